"""Units in the admin: status, load, last heartbeat, their work; drain, undrain, deregister.

Units register themselves over the API (they get their token there), so there is no add
page, and a unit's page is read-only: status changes go through the bulk actions, which call
apps.execution.services like the API.
"""

from __future__ import annotations

from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html

from apps.core.actors import Actor
from apps.core.admin import apply_to_each

from . import services
from .models import ExecutionUnit, UnitEvent, UnitQueue
from .selectors import held_task_ids


class UnitEventInline(admin.TabularInline):
    model = UnitEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "event", "from_status", "to_status", "actor_name", "reason")
    readonly_fields = fields
    ordering = ("-created_at", "-id")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ExecutionUnit)
class ExecutionUnitAdmin(admin.ModelAdmin):
    list_display = ("unit_id", "unit_type", "status", "load_bar", "reported_load",
                    "last_heartbeat_at", "last_assigned_at")
    list_filter = ("status", "unit_type")
    search_fields = ("unit_id", "name", "unit_type")
    readonly_fields = ("unit_id", "unit_type", "name", "status", "capacity", "held",
                       "reported_load", "labels", "endpoint", "metrics", "heartbeat_timeout",
                       "registered_at", "token_rotated_at", "last_heartbeat_at",
                       "last_assigned_at", "tasks_held")
    exclude = ("token_hash",)
    inlines = [UnitEventInline]
    actions = ["drain_selected", "undrain_selected", "deregister_selected"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # The list may take actions; a unit's own page is read-only: a Save there would
        # write back `held` and `status` as read, over what claims and sweeps did meanwhile.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # deregistering is an action: only offline units, through the service

    @admin.display(description="load")
    def load_bar(self, unit: ExecutionUnit):
        percent = round(100 * unit.held / unit.capacity) if unit.capacity else 0
        return format_html(
            '<progress value="{}" max="{}" title="{} of {}">{}%</progress> {}/{}',
            unit.held, unit.capacity, unit.held, unit.capacity, percent, unit.held,
            unit.capacity)

    @admin.display(description="tasks it holds")
    def tasks_held(self, unit: ExecutionUnit) -> str:
        return ", ".join(str(pk) for pk in held_task_ids(unit=unit)) or "none"

    def _each(self, request, queryset, service, done, refused):
        by = Actor.for_user(request.user)
        apply_to_each(self, request, queryset.order_by("pk"),
                      lambda unit: service(unit=unit, by=by), done=done, refused=refused)

    @admin.action(description="Drain selected units (finish their work, take no more)",
                  permissions=["change"])
    def drain_selected(self, request, queryset):
        self._each(request, queryset, services.unit_drain,
                   ("%(n)d unit draining.", "%(n)d units draining."),
                   ("%(n)d unit skipped: not online.", "%(n)d units skipped: not online."))

    @admin.action(description="Undrain selected units (take work again)",
                  permissions=["change"])
    def undrain_selected(self, request, queryset):
        self._each(request, queryset, services.unit_undrain,
                   ("%(n)d unit online again.", "%(n)d units online again."),
                   ("%(n)d unit skipped: not draining.", "%(n)d units skipped: not draining."))

    @admin.action(description="Deregister selected offline units", permissions=["change"])
    def deregister_selected(self, request, queryset):
        self._each(request, queryset, services.unit_deregister,
                   ("%(n)d unit deregistered.", "%(n)d units deregistered."),
                   ("%(n)d unit skipped: not offline, or still holding work.",
                    "%(n)d units skipped: not offline, or still holding work."))



# --- on the task type page (apps.execution.hooks adds it there) --------------------------------
class UnitQueueFormSet(BaseInlineFormSet):
    """Saves through services.unit_queue_set (the row lock, the wake-up on resume)."""

    def save_through_services(self, *, by) -> None:
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        for form in self.forms:
            if form.has_changed():
                changed = {name: form.cleaned_data[name] for name in form.changed_data
                           if name in ("max_running", "paused", "unit_types")}
                services.unit_queue_set(task_type=self.instance, by=by, **changed)


class UnitQueueInline(admin.StackedInline):
    """A unit type's queue: paused or not, and how many of its tasks may run at once."""

    model = UnitQueue
    formset = UnitQueueFormSet
    fields = ("paused", "max_running", "unit_types")
    extra = 1
    max_num = 1
    can_delete = False
    verbose_name_plural = "unit queue"
