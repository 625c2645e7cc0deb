"""Schedules in the admin: edited through the schedule services (so beat follows), with the
next run times and the last spawns shown; enable, disable and trigger as actions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from apps.core.actors import Actor
from apps.core.admin import ServiceAdminMixin, ServiceModelForm, apply_to_each

from . import services
from .models import LeaderFence, Schedule, Spawn
from .selectors import schedules_with_last_spawn

FORM_FIELDS = ("name", "task_type", "title", "payload", "priority", "reference", "labels",
               "enabled", "overlap", "misfire", "cron", "timezone", "interval_seconds",
               "delay_seconds", "run_once_at")


class ScheduleForm(ServiceModelForm):
    class Meta:
        model = Schedule
        fields = FORM_FIELDS

    def check(self, cleaned_data: dict[str, Any]) -> None:
        draft = Schedule(**{name: cleaned_data.get(name) for name in FORM_FIELDS})
        draft.cron = draft.cron or ""
        services.schedule_check(schedule=draft)


class SpawnInline(admin.TabularInline):
    model = Spawn
    fields = ("planned_time", "origin", "spawned_task", "skipped", "created_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-planned_time",)
    verbose_name_plural = "spawns (latest first)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("task")

    @admin.display(description="task")
    def spawned_task(self, spawn: Spawn):
        if spawn.task is None:
            return "-"
        url = reverse("admin:tasks_task_change", args=[spawn.task.pk])
        return format_html('<a href="{}">{}</a> ({})', url, spawn.task.title, spawn.task.status)


@admin.register(Schedule)
class ScheduleAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = ScheduleForm
    list_display = ("name", "task_type", "when", "enabled", "overlap", "misfire",
                    "next_run", "last_spawned_at")
    list_filter = ("enabled", "overlap", "misfire", "task_type")
    search_fields = ("name", "title", "reference")
    readonly_fields = ("next_runs",)
    inlines = [SpawnInline]
    actions = ["enable", "disable", "trigger"]

    def get_queryset(self, request):
        return schedules_with_last_spawn()

    @admin.display(description="when")
    def when(self, schedule: Schedule) -> str:
        if schedule.cron:
            return f"cron {schedule.cron} ({schedule.timezone})"
        if schedule.interval_seconds:
            return f"every {schedule.interval_seconds} s"
        if schedule.delay_seconds is not None:
            return f"{schedule.delay_seconds} s after the previous task ends"
        return f"once at {schedule.run_once_at:%Y-%m-%d %H:%M %Z}"

    @admin.display(description="next run")
    def next_run(self, schedule: Schedule):
        found = services.next_runs(schedule=schedule, count=1) if schedule.enabled else []
        return found[0] if found else "-"

    @admin.display(description="last spawned", ordering="last_spawned_at")
    def last_spawned_at(self, schedule: Schedule):
        return schedule.last_spawned_at or "-"

    @admin.display(description="next run times (in the schedule's zone)")
    def next_runs(self, schedule: Schedule):
        if schedule.pk is None:
            return "-"
        times = services.next_runs(schedule=schedule, count=5)
        return format_html_join("", "<div>{}</div>", ((t.isoformat(),) for t in times)) or "-"

    def save_model(self, request, obj, form, change):
        by = Actor.for_user(request.user)
        if not change:
            fields = {name: form.cleaned_data.get(name) for name in FORM_FIELDS}
            obj.pk = services.schedule_create(fields=fields, by=by).pk
            return
        changes = {name: form.cleaned_data.get(name) for name in form.changed_data}
        if set(changes) & set(services.WHEN_FIELDS):
            changes.update({name: form.cleaned_data.get(name) for name in services.WHEN_FIELDS})
        services.schedule_update(schedule_id=obj.pk, changes=changes, by=by)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # a new schedule has spawned nothing

    def delete_model(self, request, obj):
        services.schedule_delete(schedule_id=obj.pk, by=Actor.for_user(request.user))

    def _each(self, request, queryset, func, verb: str):
        apply_to_each(self, request, queryset, func,
                      done=(f"%(n)d schedule {verb}.", f"%(n)d schedules {verb}."),
                      refused=("%(n)d schedule refused.", "%(n)d schedules refused."))

    @admin.action(description="Enable the selected schedules")
    def enable(self, request, queryset):
        by = Actor.for_user(request.user)
        self._each(request, queryset, lambda s: services.schedule_set_enabled(
            schedule_id=s.pk, enabled=True, by=by), "enabled")

    @admin.action(description="Disable the selected schedules")
    def disable(self, request, queryset):
        by = Actor.for_user(request.user)
        self._each(request, queryset, lambda s: services.schedule_set_enabled(
            schedule_id=s.pk, enabled=False, by=by), "disabled")

    @admin.action(description="Trigger the selected schedules now")
    def trigger(self, request, queryset):
        by = Actor.for_user(request.user)
        self._each(request, queryset, lambda s: services.schedule_trigger(
            schedule_id=s.pk, by=by), "triggered")


@admin.register(LeaderFence)
class LeaderFenceAdmin(admin.ModelAdmin):
    """The beat leader's fence, for operators to read: who leads, with which token, how far it
    has dispatched, how many firings of replaced leaders were refused. Only beats write it."""

    list_display = ("token", "holder", "raised_at", "dispatched_until", "refused")
    readonly_fields = list_display

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
