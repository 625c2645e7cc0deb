"""Knowledge-base API: thin views over the knowledge services and selectors."""

from __future__ import annotations

import mimetypes
from pathlib import PurePath

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView
from taskmanage_client.pipeline import SUPPORTED_TYPES

from apps.core.actors import Actor
from apps.core.exceptions import InvalidInput, PermissionDenied
from apps.core.parsers import JSONParser
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus

from .. import services
from ..models import Document
from ..selectors import documents_visible_to, kb_search
from .serializers import (
    ChunksStoredSerializer,
    ChunksStoreSerializer,
    DocumentSerializer,
    DocumentUploadSerializer,
    SearchHitSerializer,
    SearchQuerySerializer,
)

# What a file's name says when its part's type says nothing useful (curl sends .md files as
# application/octet-stream).
EXTENSION_TYPES = {".md": "text/markdown", ".markdown": "text/markdown", ".txt": "text/plain",
                   ".html": "text/html", ".htm": "text/html", ".pdf": "application/pdf"}
# Room for the multipart framing and the other fields around the file.
MULTIPART_OVERHEAD = 64 * 1024


class ChunksParser(JSONParser):
    """A document's chunks with their vectors arrive in one body, larger than the API's usual
    limit: bounded by its own setting, checked the same way otherwise."""

    limit_setting = "KNOWLEDGE_MAX_CHUNKS_BODY_BYTES"


def _upload_type(upload, given: str | None) -> str:
    if given:
        return given
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return upload.content_type
    suffix = PurePath(upload.name or "").suffix.lower()
    return EXTENSION_TYPES.get(suffix) or mimetypes.guess_type(upload.name or "")[0] or declared


class DocumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                      viewsets.GenericViewSet):
    """Documents of the knowledge base: upload (which creates the processing task), read,
    and the two calls the processing unit makes: fetch the bytes, store the chunks."""

    serializer_class = DocumentSerializer
    filterset_fields = ["reference"]
    # What an execution unit's credential may call here (any other endpoint refuses it).
    machine_actions = frozenset({"content", "chunks"})

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Document.objects.none()
        return documents_visible_to(user=self.request.user)

    def get_parsers(self):
        method = getattr(self.request, "method", None)
        if method == "POST":
            # JSON too, only to answer it clearly: a 400 saying the file is missing (or
            # what is wrong with the JSON), where a 415 would leave the caller guessing.
            return [MultiPartParser(), JSONParser()]
        if method == "PUT":
            return [ChunksParser()]
        return super().get_parsers()

    def _actor(self) -> Actor:
        return Actor.for_user(self.request.user)

    @extend_schema(request={"multipart/form-data": DocumentUploadSerializer},
                   responses={201: DocumentSerializer})
    def create(self, request, *args, **kwargs):
        if getattr(request.user, "is_machine", False):
            raise PermissionDenied("Units do not upload documents.")
        self._refuse_oversized(request)
        ser = DocumentUploadSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        upload = data["file"]
        doc = services.document_add(
            name=data.get("name") or PurePath(upload.name or "document").name,
            content=upload.read(), content_type=_upload_type(upload, data.get("content_type")),
            reference=data["reference"], chunk_size=data["chunk_size"],
            chunk_overlap=data["chunk_overlap"], by=self._actor())
        doc = self.get_queryset().get(pk=doc.pk)
        return Response(DocumentSerializer(doc).data, status=status.HTTP_201_CREATED)

    @staticmethod
    def _refuse_oversized(request) -> None:
        """Before the body is read: a declared length past the limit is refused at once."""
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        limit = settings.KNOWLEDGE_MAX_DOCUMENT_BYTES
        if declared > limit + MULTIPART_OVERHEAD:
            raise InvalidInput.on("file", f"The file is larger than {limit} bytes.")

    @extend_schema(responses={(200, kind): OpenApiResponse(
        OpenApiTypes.BINARY, description="The document's bytes, with its content type.")
        for kind in SUPPORTED_TYPES})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def content(self, request, pk=None):
        """The bytes: for people who may see the document, and for the unit processing it
        while it does (any other unit: 403)."""
        doc = self._for_unit(pk) if self._is_unit() else get_object_or_404(
            self.get_queryset(), pk=pk)
        body = Document.objects.filter(pk=doc.pk).values_list("content", flat=True).get()
        response = HttpResponse(bytes(body), content_type=doc.content_type)
        response["Content-Disposition"] = "inline"
        return response

    def _is_unit(self) -> bool:
        return self._actor().kind == "unit"

    def _for_unit(self, pk) -> Document:
        doc = get_object_or_404(Document.objects.defer("content").select_related("task"), pk=pk)
        task, by = doc.task, self._actor()
        if task is None or task.assignee_unit_id != by.ref or task.status != TaskStatus.RUNNING:
            raise PermissionDenied(f"{by.name} is not processing this document.")
        return doc

    @extend_schema(request=ChunksStoreSerializer, responses={200: ChunksStoredSerializer})
    @action(detail=True, methods=["put"], filter_backends=[], pagination_class=None)
    def chunks(self, request, pk=None):
        """Replace the document's chunks: by the unit running its processing task."""
        # Who may store first: the body may be tens of megabytes, read and parsed only for
        # the unit processing the document.
        doc = get_object_or_404(Document.objects.defer("content").select_related("task"),
                                pk=pk)
        services.chunks_may_store(document=doc, by=self._actor())
        ser = ChunksStoreSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        task = Task(pk=ser.validated_data["task_id"])
        stored = services.chunks_store(document=doc, task=task, chunks=ser.chunk_items(),
                                       by=self._actor())
        return Response({"document": str(doc.pk), "chunks": stored})


class SearchView(APIView):
    """The chunks nearest a query, best first: any signed-in person (not a unit's token)."""

    @extend_schema(parameters=[SearchQuerySerializer],
                   responses={200: SearchHitSerializer(many=True)})
    def get(self, request):
        if getattr(request.user, "is_machine", False):
            raise PermissionDenied("Units do not search the knowledge base.")
        ser = SearchQuerySerializer(data=request.query_params)
        ser.is_valid(raise_exception=True)
        hits = kb_search(query=ser.validated_data["q"], user=request.user,
                         reference=ser.validated_data.get("reference") or None,
                         limit=ser.validated_data["limit"])
        return Response(SearchHitSerializer(hits, many=True).data)


