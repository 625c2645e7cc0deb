"""Documents and chunks in the admin, read-only: documents come in through the API (or
`demo_data`) with their processing task, and chunks are what that task's unit stored."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from apps.core.admin import ReadOnlyAdminMixin

from .models import Chunk, Document


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdmin):
    list_display = ("name", "reference", "content_type", "size", "chunk_count",
                    "processing_task", "created_at")
    list_filter = ("reference", "content_type")
    search_fields = ("name", "reference", "sha256")
    fields = ("id", "name", "reference", "content_type", "size", "sha256", "chunk_size",
              "chunk_overlap", "chunk_count", "processing_task", "created_by", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return (super().get_queryset(request).defer("content").select_related("task")
                .annotate(chunk_count=Count("chunks")))

    @admin.display(description="chunks", ordering="chunk_count")
    def chunk_count(self, doc: Document) -> int:
        return doc.chunk_count

    @admin.display(description="processing task")
    def processing_task(self, doc: Document):
        if doc.task is None:
            return "-"
        url = reverse("admin:tasks_task_change", args=[doc.task.pk])
        return format_html('<a href="{}">{}</a> ({})', url, doc.task.title, doc.task.status)


@admin.register(Chunk)
class ChunkAdmin(ReadOnlyAdmin):
    list_display = ("document", "index", "reference", "preview", "dimensions")
    list_filter = ("reference",)
    search_fields = ("text",)
    fields = ("document", "reference", "index", "text", "dimensions")

    def get_queryset(self, request):
        # The document's name for each row, never its file (up to 10 MB, once per row).
        return super().get_queryset(request).select_related("document").defer(
            "document__content")
    readonly_fields = fields

    @admin.display(description="text")
    def preview(self, chunk: Chunk) -> str:
        return chunk.text[:80] + ("…" if len(chunk.text) > 80 else "")

    @admin.display(description="embedding")
    def dimensions(self, chunk: Chunk) -> str:
        return f"{len(chunk.embedding)} floats"
