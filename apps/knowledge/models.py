"""Documents of the knowledge base and the chunks their processing produced."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .fields import VectorField


class Document(models.Model):
    """An uploaded file, kept whole (small files: KNOWLEDGE_MAX_DOCUMENT_BYTES), with the
    task that turns it into chunks and the parameters it was asked to use."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The knowledge base it belongs to (kb-1, …): also the processing task's reference.
    reference = models.CharField(max_length=200, db_index=True)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    content = models.BinaryField()
    chunk_size = models.PositiveIntegerField()
    chunk_overlap = models.PositiveIntegerField()
    task = models.ForeignKey("tasks.Task", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="documents")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(chunk_overlap__lt=F("chunk_size")),
                                   name="document_overlap_below_size"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.reference})"


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    # The document's knowledge base, on every chunk: search filters on it without a join.
    reference = models.CharField(max_length=200, db_index=True)
    index = models.PositiveIntegerField()
    text = models.TextField()
    embedding = VectorField()

    class Meta:
        ordering = ["document", "index"]
        constraints = [
            models.UniqueConstraint(fields=["document", "index"], name="chunk_document_index"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id} #{self.index}"
