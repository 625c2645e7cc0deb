"""Knowledge-base API shapes: upload, documents, chunks a unit stores, search hits."""

from __future__ import annotations

import math

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from taskmanage_client.pipeline import DIM

from apps.tasks.api.serializers import StrictFieldsMixin

from ..models import Document
from ..services import MIN_CHUNK_SIZE, ChunkIn

DEFAULT_CHUNK_SIZE = 800
DEFAULT_CHUNK_OVERLAP = 100


class DocumentUploadSerializer(StrictFieldsMixin, serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, use_url=False)
    reference = serializers.CharField(max_length=200, help_text="The knowledge base, e.g. kb-1")
    name = serializers.CharField(max_length=255, required=False,
                                 help_text="Defaults to the file's name.")
    content_type = serializers.CharField(
        max_length=100, required=False,
        help_text="Defaults to the file part's type, or to what its name's extension says.")
    chunk_size = serializers.IntegerField(min_value=MIN_CHUNK_SIZE,
                                          max_value=settings.KNOWLEDGE_MAX_CHUNK_SIZE,
                                          default=DEFAULT_CHUNK_SIZE)
    chunk_overlap = serializers.IntegerField(min_value=0, default=DEFAULT_CHUNK_OVERLAP)

    def validate(self, attrs):
        if attrs["chunk_overlap"] >= attrs["chunk_size"]:
            raise serializers.ValidationError(
                {"chunk_overlap": ["Must be smaller than chunk_size."]})
        return attrs


class TaskRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


class DocumentSerializer(serializers.ModelSerializer):
    task = serializers.SerializerMethodField()
    chunks = serializers.IntegerField(source="chunk_count", read_only=True, default=0)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True,
                                              allow_null=True)  # the demo's: nobody

    class Meta:
        model = Document
        fields = ["id", "reference", "name", "content_type", "size", "sha256", "chunk_size",
                  "chunk_overlap", "chunks", "task", "created_by", "created_at"]
        read_only_fields = fields

    @extend_schema_field(TaskRefSerializer(allow_null=True))
    def get_task(self, doc: Document):
        task = doc.task
        return None if task is None else {"id": str(task.pk), "status": task.status}


@extend_schema_field({"type": "array", "items": {"type": "number"},
                      "minItems": DIM, "maxItems": DIM})
class EmbeddingField(serializers.Field):
    """DIM finite numbers, checked in one pass: thousands of chunks × DIM floats would be
    slow as one FloatField per number."""

    default_error_messages = {
        "invalid": f"A list of {DIM} finite numbers.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, list) or len(data) != DIM or not all(
                type(v) in (int, float) and math.isfinite(v) for v in data):
            self.fail("invalid")
        return [float(v) for v in data]

    def to_representation(self, value):
        return value


class ChunkInSerializer(StrictFieldsMixin, serializers.Serializer):
    index = serializers.IntegerField(min_value=0, max_value=settings.KNOWLEDGE_MAX_CHUNKS - 1)
    text = serializers.CharField(max_length=settings.KNOWLEDGE_MAX_CHUNK_SIZE,
                                 trim_whitespace=False)
    embedding = EmbeddingField()


class ChunksStoreSerializer(StrictFieldsMixin, serializers.Serializer):
    task_id = serializers.UUIDField()
    chunks = serializers.ListField(child=ChunkInSerializer(), allow_empty=False,
                                   max_length=settings.KNOWLEDGE_MAX_CHUNKS)

    def chunk_items(self) -> list[ChunkIn]:
        return [ChunkIn(**c) for c in self.validated_data["chunks"]]


class ChunksStoredSerializer(serializers.Serializer):
    document = serializers.UUIDField()
    chunks = serializers.IntegerField()


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=500, help_text="What to look for")
    reference = serializers.CharField(max_length=200, required=False,
                                      help_text="Only this knowledge base (e.g. kb-1)")
    limit = serializers.IntegerField(min_value=1, max_value=50, default=5)


class SearchHitSerializer(serializers.Serializer):
    document = serializers.UUIDField()
    name = serializers.CharField()
    reference = serializers.CharField()
    index = serializers.IntegerField()
    text = serializers.CharField()
    score = serializers.FloatField()
