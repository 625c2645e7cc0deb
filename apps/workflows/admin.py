"""Workflows in the admin, read-only: they are created through the API with their tasks, and
change as their tasks do. The detail page shows the graph as a table."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from apps.core.admin import ReadOnlyAdminMixin

from .models import Workflow
from .selectors import progress_of, status_of, with_counts, workflow_graph


@admin.register(Workflow)
class WorkflowAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "workflow_status", "progress", "on_failure", "created_by",
                    "created_at")
    list_filter = ("on_failure",)
    search_fields = ("name",)
    fields = ("id", "name", "on_failure", "workflow_status", "progress", "created_by",
              "created_at", "graph")
    readonly_fields = fields

    def get_queryset(self, request):
        return with_counts(qs=super().get_queryset(request).select_related("created_by"))

    @admin.display(description="status")
    def workflow_status(self, workflow: Workflow) -> str:
        return status_of(workflow=workflow)

    @admin.display(description="progress")
    def progress(self, workflow: Workflow) -> str:
        p = progress_of(workflow=workflow)
        return f"{p['done']} / {p['total']}"

    @admin.display(description="graph")
    def graph(self, workflow: Workflow):
        nodes, _ = workflow_graph(workflow=workflow)
        rows = format_html_join(
            "", "<tr><td>{}</td><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td>"
                "<td>{}</td></tr>",
            ((n.key, reverse("admin:tasks_task_change", args=[n.task.pk]), n.task.title,
              n.task.status, ", ".join(n.depends_on) or "—", ", ".join(n.waits_for) or "—")
             for n in nodes))
        return format_html(
            "<table><thead><tr><th>key</th><th>task</th><th>status</th><th>depends on</th>"
            "<th>waits for</th></tr></thead><tbody>{}</tbody></table>", rows)
