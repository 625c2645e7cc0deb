"""Schedules on the wire: validate and shape; the service decides."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.fields import JSONObjectField
from apps.tasks.api.serializers import PriorityField, StrictFieldsMixin
from apps.tasks.models import TaskType

from ..models import Misfire, Overlap, Schedule, Spawn
from ..services import next_runs
from ..timing import zone_of

MAX_NEXT = 50


class ScheduleWriteSerializer(StrictFieldsMixin, serializers.Serializer):
    """Create (everything but the "when" optional except one of it) or edit (any subset)."""

    name = serializers.CharField(max_length=200)
    task_type = serializers.CharField(max_length=100, help_text="An active task type's key.")
    title = serializers.CharField(max_length=300)
    payload = JSONObjectField(required=False, default=dict)
    priority = PriorityField(required=False, allow_null=True, default=None)
    reference = serializers.CharField(max_length=200, required=False, default="",
                                      allow_blank=True)
    labels = serializers.ListField(child=serializers.CharField(max_length=100), required=False,
                                   default=list, max_length=50)
    enabled = serializers.BooleanField(required=False, default=True)
    overlap = serializers.ChoiceField(choices=Overlap.choices, required=False,
                                      default=Overlap.ALLOW)
    misfire = serializers.ChoiceField(choices=Misfire.choices, required=False,
                                      default=Misfire.SKIP)
    cron = serializers.CharField(max_length=100, required=False, allow_null=True,
                                 help_text="Five fields: minute hour day-of-month month "
                                           "day-of-week, in `timezone`.")
    timezone = serializers.CharField(max_length=64, required=False, default="UTC")
    interval_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                                max_value=10 * 365 * 86400)
    delay_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                             max_value=10 * 365 * 86400,
                                             help_text="Fixed delay after the previous "
                                                       "spawned task ends.")
    run_once_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate_task_type(self, value):
        task_type = TaskType.objects.filter(key=value, is_active=True).first()
        if task_type is None:
            raise serializers.ValidationError(f"Unknown or inactive task type {value!r}.")
        return task_type

    def validate_timezone(self, value):
        zone_of(value)
        return value


class SpawnSerializer(serializers.ModelSerializer):
    task = serializers.UUIDField(source="task_id", read_only=True, allow_null=True)

    class Meta:
        model = Spawn
        fields = ["planned_time", "task", "origin", "skipped", "created_at"]


class ScheduleSerializer(serializers.ModelSerializer):
    task_type = serializers.SlugRelatedField(slug_field="key", read_only=True)
    priority = PriorityField(read_only=True, allow_null=True)
    next_run_at = serializers.SerializerMethodField()
    last_spawned_at = serializers.DateTimeField(read_only=True, allow_null=True)
    # The stored "" is shown as null (to_representation): the schema says so.
    cron = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = Schedule
        fields = ["id", "name", "task_type", "title", "payload", "priority", "reference",
                  "labels", "enabled", "overlap", "misfire", "cron", "timezone",
                  "interval_seconds", "delay_seconds", "run_once_at", "next_run_at",
                  "last_spawned_at", "created_at", "updated_at"]

    def get_next_run_at(self, schedule) -> str | None:
        if not schedule.enabled:
            return None
        found = next_runs(schedule=schedule, count=1)
        return found[0].isoformat() if found else None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["cron"] = instance.cron or None
        return data


class NextQuerySerializer(serializers.Serializer):
    count = serializers.IntegerField(required=False, default=5, min_value=1, max_value=MAX_NEXT)


class NextRunsSerializer(serializers.Serializer):
    timezone = serializers.CharField()
    next = serializers.ListField(child=serializers.DateTimeField())


class BackfillSerializer(StrictFieldsMixin, serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    mode = serializers.ChoiceField(choices=["parallel", "serial"], required=False,
                                   default="parallel",
                                   help_text="serial: each task depends on the one before.")


class BackfillResultSerializer(serializers.Serializer):
    spawned = SpawnSerializer(many=True)
