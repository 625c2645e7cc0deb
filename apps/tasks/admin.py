"""Operators' view of tasks: filters, history inline, transition buttons, bulk actions.

Every button and action calls the same services as the API; the admin never writes status.
The task and task type admins are built here, once; other apps add inlines, columns and
actions through apps.tasks.extensions, read when a page is built (never by replacing these
classes).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from apps.core.actors import Actor
from apps.core.admin import ServiceAdminMixin, apply_to_each
from apps.core.exceptions import Conflict, PermissionDenied

from . import extensions, services
from .models import DeadLetter, Task, TaskHistory, TaskLog, TaskType
from .selectors import dead_letters

# Buttons offered on a task's page: steps an operator takes without further input.
ADMIN_ACTIONS = (
    "submit", "start", "pause", "resume", "complete", "requeue", "retry", "cancel",
)


def transition_each(model_admin, request, queryset, *, action: str, reason: str,
                    done: tuple[str, str], refused: tuple[str, str]) -> None:
    """A bulk action: `action` on each selected task through the service, each on its own
    (its own lock and history row); one that cannot take the step is skipped and counted,
    it does not undo the others."""
    by = Actor.for_user(request.user)
    apply_to_each(
        model_admin, request, queryset.values_list("pk", flat=True),
        lambda pk: services.task_transition(task_id=pk, action=action, by=by, reason=reason),
        done=done, refused=refused, errors=(Conflict, Task.DoesNotExist),
    )


@admin.register(TaskType)
class TaskTypeAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ("key", "name", "assignee_kind", "priority", "capacity_weight", "queue",
                    "max_retries", "is_active")
    list_filter = ("assignee_kind", "queue", "is_active", "requires_creation_approval",
                   "requires_completion_approval")
    search_fields = ("key", "name")
    prepopulated_fields = {"key": ("name",)}

    def get_inlines(self, request, obj):
        return [*self.inlines, *extensions.task_type_admin_inlines()]

    def get_list_display(self, request):
        # Other apps' columns come after the type's own routing columns.
        own = list(self.list_display)
        at = own.index("queue") + 1
        return [*own[:at], *extensions.task_type_admin_columns(), *own[at:]]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(
            *extensions.task_type_prefetches())

    def get_readonly_fields(self, request, obj=None):
        # Clients send the key: once tasks use a type it is fixed (services.task_type_update).
        fixed = obj is not None and services.task_type_key_in_use(task_type=obj)
        return (*self.readonly_fields, "key") if fixed else self.readonly_fields

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if obj is None else {}  # a key is proposed once

    # --- writes: through the task type services (and each app's own, for its inline) ----------
    def save_model(self, request, obj, form, change):
        by = Actor.for_user(request.user)
        if change:
            changed = {name: form.cleaned_data[name] for name in form.changed_data}
            services.task_type_update(task_type=obj, by=by, **changed)
            return
        fields = {name: value for name, value in form.cleaned_data.items()
                  if name in services.TASK_TYPE_FIELDS}
        created = services.task_type_create(by=by, **fields)
        # The admin goes on with `obj` (inlines, the log, the redirect): make it the new row.
        for f in TaskType._meta.concrete_fields:
            setattr(obj, f.attname, getattr(created, f.attname))
        obj._state.adding, obj._state.db = False, created._state.db

    def save_formset(self, request, form, formset, change):
        # An inline an app contributes saves through that app's service when it offers one.
        save = getattr(formset, "save_through_services", None)
        if save is None:
            super().save_formset(request, form, formset, change)
            return
        save(by=Actor.for_user(request.user))

    def delete_model(self, request, obj):
        services.task_type_delete(task_type=obj, by=Actor.for_user(request.user))

    def delete_queryset(self, request, queryset):
        by = Actor.for_user(request.user)
        for task_type in queryset:
            services.task_type_delete(task_type=task_type, by=by)


class TaskHistoryInline(admin.TabularInline):
    model = TaskHistory
    extra = 0
    can_delete = False
    fields = ("created_at", "transition", "from_status", "to_status", "actor_kind",
              "actor_name", "reason")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def has_add_permission(self, request, obj=None):
        return False


class ShardInline(admin.TabularInline):
    """A sharded task's shards, on the parent's page: where each one is and who holds it."""

    model = Task
    fk_name = "parent"
    verbose_name, verbose_name_plural = "shard", "shards"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("shard_index", "title", "status", "assignee_unit", "attempts", "progress",
              "error", "finished_at")
    readonly_fields = fields
    ordering = ("shard_index",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(shard_index__isnull=False).select_related(
            "assignee_unit")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Task)
class TaskAdmin(ServiceAdminMixin, admin.ModelAdmin):
    change_form_template = "admin/tasks/task/change_form.html"
    list_display = ("title", "task_type", "status", "priority", "assignee_user", "progress",
                    "attempts", "reference", "created_at")
    list_filter = ("status", "priority", "task_type")
    search_fields = ("id", "title", "reference", "idempotency_key")
    list_select_related = ("task_type", "assignee_user")
    date_hierarchy = "created_at"
    inlines = [TaskHistoryInline]
    own_actions = ("cancel_selected", "retry_selected")
    # Only what services.task_update edits (EDITABLE_FIELDS) stays editable; the rest belongs
    # to the life cycle (status, holder, times), to creation (type, idempotency key) or to
    # the scheduler and dependencies (run_at, parent), each changed by its own service.
    readonly_fields = (
        "id", "task_type", "status", "assignee_user", "attempts", "progress", "result", "error",
        "created_by", "created_at", "updated_at", "queued_at", "assigned_at", "started_at",
        "finished_at", "estimated_completion", "idempotency_key", "run_at", "parent",
        "shard_index", "shard_count", "depends_on",
    )
    fieldsets = (
        (None, {"fields": ("id", "title", "task_type", "priority", "status", "assignee_user")}),
        ("Work", {"fields": ("payload", "result", "error", "progress", "estimated_completion",
                             "attempts")}),
        ("Routing", {"fields": ("reference", "labels", "idempotency_key", "run_at", "due_at",
                                "parent", "shard_index", "shard_count", "depends_on")}),
        ("Times", {"fields": ("created_by", "created_at", "updated_at", "queued_at",
                              "assigned_at", "started_at", "finished_at")}),
    )

    def has_add_permission(self, request):
        # Tasks are created through the API (validation, idempotency, history), not here.
        return False

    def get_readonly_fields(self, request, obj=None):
        panels = [f for _, shown in extensions.task_admin_panels() for f in shown]
        if obj is not None and not obj.is_open:  # task_update refuses a finished task
            return (*dict.fromkeys([*self.readonly_fields, *services.EDITABLE_FIELDS]),
                    *panels)
        return (*self.readonly_fields, *panels)

    def get_fieldsets(self, request, obj=None):
        # Other apps' read-only panels (apps.tasks.extensions), below the task's own fields.
        return [*self.fieldsets, *((title, {"fields": shown})
                                   for title, shown in extensions.task_admin_panels())]

    def save_model(self, request, obj, form, change):
        # Through task_update: the row lock, the open-task rule and the task.updated event (a
        # task that finished while the form was open: ServiceAdminMixin says so, saves nothing).
        changes = {name: form.cleaned_data[name] for name in form.changed_data
                   if name in services.EDITABLE_FIELDS}
        if changes:
            services.task_update(task_id=obj.pk, changes=changes,
                                 by=Actor.for_user(request.user))

    # --- what other apps add (apps.tasks.extensions) -------------------------------------------
    @property
    def actions(self):
        # Read by Django's admin where it lists the bulk actions (and by its checks), so an
        # app registering an action in its ready() is seen whatever order apps load in.
        return [*self.own_actions, *extensions.task_admin_actions()]

    def get_inlines(self, request, obj):
        shards = [ShardInline] if obj is not None and obj.shard_count is not None \
            and obj.shard_index is None else []
        return [*self.inlines, *shards, *extensions.task_admin_inlines()]

    # --- transition buttons ---------------------------------------------------------------
    def get_urls(self):
        custom = [
            path("<uuid:object_id>/transition/<str:name>/",
                 self.admin_site.admin_view(self.transition_view),
                 name="tasks_task_transition"),
        ]
        return custom + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        task = self.get_object(request, object_id)
        if task is not None:
            extra_context["transition_buttons"] = services.allowed_actions(
                task=task, among=ADMIN_ACTIONS)
        return super().change_view(request, object_id, form_url, extra_context)

    def transition_view(self, request, object_id, name: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if name not in ADMIN_ACTIONS or not self.has_change_permission(request):
            raise PermissionDenied
        task = get_object_or_404(Task, pk=object_id)
        by = Actor.for_user(request.user)
        try:
            if name == "complete":
                services.task_complete(task_id=task.pk, by=by, reason="admin")
            else:
                services.task_transition(task_id=task.pk, action=name, by=by, reason="admin",
                                         among=ADMIN_ACTIONS)
        except Conflict as exc:
            self.message_user(request, f"{exc} (allowed: {', '.join(exc.allowed) or 'none'})",
                              messages.ERROR)
        else:
            self.message_user(request, f"{name}: done, the task is now "
                              f"{Task.objects.values_list('status', flat=True).get(pk=task.pk)}.")
        return HttpResponseRedirect(reverse("admin:tasks_task_change", args=[task.pk]))

    # --- bulk actions ---------------------------------------------------------------------
    def _bulk(self, request, queryset, action: str, verb: str) -> None:
        transition_each(self, request, queryset, action=action, reason="admin bulk",
                        done=(f"%(n)d task {verb}.", f"%(n)d tasks {verb}."),
                        refused=("%(n)d task skipped: not allowed from its status.",
                                 "%(n)d tasks skipped: not allowed from their status."))

    @admin.action(description="Cancel selected tasks", permissions=["change"])
    def cancel_selected(self, request, queryset):
        self._bulk(request, queryset, "cancel", "cancelled")

    @admin.action(description="Retry selected tasks", permissions=["change"])
    def retry_selected(self, request, queryset):
        self._bulk(request, queryset, "retry", "retried")


@admin.register(TaskHistory)
class TaskHistoryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "task", "transition", "from_status", "to_status",
                    "actor_kind", "actor_name")
    list_filter = ("transition", "to_status", "actor_kind")
    search_fields = ("task__id", "task__title", "actor_name", "reason")
    list_select_related = ("task",)
    raw_id_fields = ("task", "actor_user")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TaskLog)
class TaskLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "task", "attempt", "level", "short_message")
    list_filter = ("level",)
    search_fields = ("task__id", "message")
    list_select_related = ("task",)
    raw_id_fields = ("task",)

    @admin.display(description="message")
    def short_message(self, obj: TaskLog) -> str:
        return obj.message[:120]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    """Tasks that failed for good, newest first; replayed (retried) in bulk through the
    services, as `manage.py replay_dead` and `POST /api/v1/tasks/{id}/retry` do."""

    list_display = ("title", "task_type", "attempts", "short_error", "finished_at")
    list_filter = ("task_type", "finished_at")
    search_fields = ("id", "title", "reference", "error")
    list_select_related = ("task_type",)
    date_hierarchy = "finished_at"
    actions = ["replay_selected"]

    def get_queryset(self, request):
        return dead_letters().select_related("task_type").order_by("-finished_at", "pk")

    @admin.display(description="error")
    def short_error(self, obj: Task) -> str:
        return obj.error[:120]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)  # actions only

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Replay selected (retry: back to the queue)",
                  permissions=["change"])
    def replay_selected(self, request, queryset):
        transition_each(self, request, queryset, action="retry", reason="dead letter replay",
                        done=("%(n)d task replayed.", "%(n)d tasks replayed."),
                        refused=("%(n)d task skipped: no longer failed.",
                                 "%(n)d tasks skipped: no longer failed."))
