"""Shapes of the execution units API."""

from __future__ import annotations

import json
from collections import Counter

from django.conf import settings
from rest_framework import serializers

from apps.tasks.api.serializers import StrictFieldsMixin, TaskDetailSerializer

from ..models import UNIT_ID_PATTERN, ExecutionUnit

MAX_LABELS = 50
MAX_CLAIM = 100
MAX_RESULTS = 500
MAX_METADATA = 8 * 1024


class UnitSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="unit_id", read_only=True)
    current_load = serializers.IntegerField(source="reported_load", read_only=True)
    held = serializers.IntegerField(read_only=True, help_text="Tasks it holds now.")

    class Meta:
        model = ExecutionUnit
        fields = ["id", "unit_type", "name", "status", "capacity", "held", "current_load",
                  "labels", "endpoint", "metrics", "heartbeat_timeout", "registered_at",
                  "last_heartbeat_at", "last_assigned_at"]
        read_only_fields = fields


class UnitDetailSerializer(UnitSerializer):
    tasks = serializers.SerializerMethodField(help_text="Ids of the tasks it holds now.")

    class Meta(UnitSerializer.Meta):
        fields = [*UnitSerializer.Meta.fields, "tasks"]
        read_only_fields = fields

    def get_tasks(self, unit) -> list[str]:
        return [str(pk) for pk in self.context.get("held_task_ids", [])]


class LabelField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=100, **kwargs)


class RegisterSerializer(StrictFieldsMixin, serializers.Serializer):
    id = serializers.RegexField(UNIT_ID_PATTERN, max_length=100,
                                help_text="Chosen by the unit, e.g. worker-001.")
    unit_type = serializers.SlugField(max_length=100,
                                      help_text="The key of the task type it serves.")
    name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    capacity = serializers.IntegerField(min_value=1, max_value=10_000, required=False, default=1)
    endpoint = serializers.CharField(max_length=500, required=False, default="",
                                     allow_blank=True)
    labels = serializers.ListField(child=LabelField(), max_length=MAX_LABELS, required=False,
                                   default=list)
    heartbeat_timeout = serializers.IntegerField(min_value=1, max_value=86_400, required=False,
                                                 default=30)


class RegistrationSerializer(serializers.Serializer):
    unit = UnitSerializer()
    token = serializers.CharField(help_text="Shown once; only its hash is kept.")


class HeartbeatSerializer(StrictFieldsMixin, serializers.Serializer):
    current_load = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False,
                                            default=0)
    metadata = serializers.DictField(
        required=False, default=dict,
        help_text=f"Metrics: cpu, memory, free_memory_mb, … (at most {MAX_METADATA} bytes "
                  "as JSON).")

    def validate_metadata(self, value):
        # Kept with every heartbeat (Redis, then the unit's row): a few metrics, not a file.
        if len(json.dumps(value)) > MAX_METADATA:
            raise serializers.ValidationError(f"At most {MAX_METADATA} bytes as JSON.")
        return value


class HeartbeatResultSerializer(serializers.Serializer):
    status = serializers.CharField()
    cancelled = serializers.ListField(child=serializers.UUIDField(),
                                      help_text="Its tasks cancelled since: stop them.")


class UnitStatusChangeSerializer(StrictFieldsMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, default="",
                                   allow_blank=True)


class ClaimSerializer(StrictFieldsMixin, serializers.Serializer):
    max = serializers.IntegerField(min_value=1, max_value=MAX_CLAIM, required=False, default=1)
    wait = serializers.FloatField(
        min_value=0, max_value=settings.UNIT_CLAIM_MAX_WAIT, required=False, default=0,
        help_text="Seconds to wait for work when there is none yet (long polling): the claim "
                  "returns as soon as work of its type is queued.")


class ClaimResultSerializer(serializers.Serializer):
    # With what other apps add for the work (a workflow task's inputs), for what it holds.
    tasks = TaskDetailSerializer(many=True)


class ResultItemSerializer(StrictFieldsMixin, serializers.Serializer):
    task_id = serializers.UUIDField()
    outcome = serializers.ChoiceField(choices=["completed", "failed"])
    result = serializers.JSONField(required=False, default=None, allow_null=True)
    error = serializers.CharField(max_length=10000, required=False, default="",
                                  allow_blank=True)
    retryable = serializers.BooleanField(required=False, default=True)


class ResultsSerializer(StrictFieldsMixin, serializers.Serializer):
    results = ResultItemSerializer(many=True, min_length=1, max_length=MAX_RESULTS)

    def validate_results(self, items):
        counts = Counter(str(item["task_id"]) for item in items)
        repeated = sorted(i for i, n in counts.items() if n > 1)
        if repeated:
            raise serializers.ValidationError(f"Each task once: {', '.join(repeated)}.")
        return items


class GiveBackSerializer(StrictFieldsMixin, serializers.Serializer):
    task_ids = serializers.ListField(child=serializers.UUIDField(), min_length=1,
                                     max_length=MAX_RESULTS)
    reason = serializers.CharField(max_length=300, required=False, default="",
                                   allow_blank=True)


class GivenBackSerializer(serializers.Serializer):
    given_back = serializers.ListField(
        child=serializers.UUIDField(),
        help_text="The tasks put back in the queue; an id the unit does not hold is not here.")


class OutcomeSerializer(serializers.Serializer):
    task_id = serializers.UUIDField()
    status = serializers.CharField(help_text="The task's status now, or `conflict`: the unit "
                                             "does not hold it (any more).")
    detail = serializers.CharField(allow_blank=True)


class OutcomesSerializer(serializers.Serializer):
    results = OutcomeSerializer(many=True)


class WorkerGroupSerializer(serializers.Serializer):
    unit_type = serializers.CharField()
    status = serializers.CharField()
    units = serializers.IntegerField()
    held = serializers.IntegerField()
    capacity = serializers.IntegerField()
    reported_load = serializers.IntegerField()


class WorkersStatsSerializer(serializers.Serializer):
    units = WorkerGroupSerializer(many=True)
    heartbeats_per_minute = serializers.IntegerField(
        allow_null=True, help_text="In the last whole minute; null when Redis does not answer.")
    heartbeats_last_minutes = serializers.ListField(child=serializers.IntegerField(),
                                                    allow_null=True)


class UnitQueueFields(serializers.Serializer):
    """The task type fields apps.execution serves (apps.execution.hooks)."""

    max_running = serializers.IntegerField(
        min_value=1, max_value=1_000_000, allow_null=True, required=False,
        help_text="Unit types: at most this many of its tasks held by units at once "
                  "(null: no limit).")
    queue_paused = serializers.BooleanField(
        required=False, help_text="Unit types: claims skip its tasks while paused; nothing "
                                  "is lost.")
    unit_types = serializers.ListField(
        child=serializers.SlugField(max_length=100), max_length=50, required=False,
        help_text="Unit types: further unit types whose units may take its tasks (units of "
                  "the type named by its key always may).")
