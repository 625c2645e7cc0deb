"""Assignment records and unassignable work in the admin; bulk reassign on tasks."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import ngettext

from apps.core.actors import Actor
from apps.core.exceptions import Conflict

from . import services
from .models import Assignment, Unassignable


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("created_at", "task", "assignee_user", "strategy", "score", "reason",
                    "outcome", "expires_at")
    list_filter = ("outcome", "reason", "strategy", "excludes_assignee")
    search_fields = ("task__id", "task__title", "assignee_user__username", "explanation")
    list_select_related = ("task", "assignee_user")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Assignment._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Unassignable)
class UnassignableAdmin(admin.ModelAdmin):
    list_display = ("task", "reason", "since", "checked_at")
    search_fields = ("task__id", "task__title")
    list_select_related = ("task",)
    readonly_fields = ("task", "reason", "since", "checked_at")

    def has_add_permission(self, request):
        return False


@admin.action(description="Reassign selected tasks (the engine picks someone else)",
              permissions=["change"])
def reassign_selected(modeladmin, request, queryset):
    """A bulk action of the task admin (apps.assignment.extensions adds it there)."""
    by = Actor.for_user(request.user)
    done = skipped = 0
    for pk in queryset.values_list("pk", flat=True):
        try:
            services.task_reassign(task_id=pk, by=by, reason="admin bulk")
            done += 1
        except Conflict:
            skipped += 1
    modeladmin.message_user(request, ngettext("%(n)d task sent for reassignment.",
                                              "%(n)d tasks sent for reassignment.", done)
                            % {"n": done})
    if skipped:
        modeladmin.message_user(request, ngettext(
            "%(n)d task skipped: not reassignable from its status.",
            "%(n)d tasks skipped: not reassignable from their status.", skipped)
            % {"n": skipped}, "warning")
