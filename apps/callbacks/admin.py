"""Operator pages: deliveries with their attempts, and replaying them."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import ngettext

from apps.core.actors import Actor

from . import services
from .models import CallbackAttempt, CallbackDelivery


class CallbackAttemptInline(admin.TabularInline):
    model = CallbackAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "duration_ms", "status_code", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class CallbackDeliveryInline(admin.TabularInline):
    """On a task's admin page: its deliveries."""

    model = CallbackDelivery
    fk_name = "task"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["url", "task_status", "status", "attempts", "next_attempt_at", "created_at",
              "finished_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.action(description="Replay selected callback deliveries", permissions=["change"])
def replay_selected(modeladmin, request, queryset):
    # The selection as a subquery: one SELECT of the messages, one INSERT of their replays.
    fresh = services.deliveries_replay(delivery_ids=queryset.values("pk"),
                                       by=Actor.for_user(request.user))
    modeladmin.message_user(request, ngettext(
        "%d callback delivery replayed.", "%d callback deliveries replayed.", len(fresh),
    ) % len(fresh), messages.SUCCESS)


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "url", "task_status", "status", "attempts",
                    "next_attempt_at", "created_at", "finished_at"]
    list_filter = ["status", "task_status"]
    search_fields = ["url", "task__id", "task__title"]
    list_select_related = ["task"]
    readonly_fields = ["task", "url", "body", "task_status", "replay_of", "status", "attempts",
                       "next_attempt_at", "created_at", "finished_at"]
    inlines = [CallbackAttemptInline]
    actions = [replay_selected]

    def has_add_permission(self, request):
        return False
