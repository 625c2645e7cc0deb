"""Shapes of the stats answers (read-only), and the query parameters they take."""

from __future__ import annotations

from rest_framework import serializers

from apps.execution.api.serializers import WorkersStatsSerializer
from apps.tasks.states import TaskStatus

MAX_WINDOW_HOURS = 24 * 30


# A fixed set of members, one per status: documented as such.
CountsSerializer = type("StatusCountsSerializer", (serializers.Serializer,), {
    status: serializers.IntegerField() for status in TaskStatus.values
})


class ThroughputSerializer(serializers.Serializer):
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()


class DurationsSerializer(serializers.Serializer):
    sample = serializers.IntegerField(help_text="Tasks completed in the last day.")
    mean_seconds = serializers.FloatField(allow_null=True)
    p95_seconds = serializers.FloatField(allow_null=True)


class SlaSerializer(serializers.Serializer):
    overdue_open = serializers.IntegerField(help_text="Open tasks past their due_at now.")
    completed_late = serializers.IntegerField(
        help_text="Tasks completed in the last day after their due_at.")


class OverviewSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField()
    counts = CountsSerializer(source="counts.counts", help_text="Tasks by status.")
    counts_ended_as_of = serializers.DateTimeField(
        source="counts.ended_as_of",
        help_text="When the ended states were counted (a sweep refreshes them); open states "
                  "are counted live.")
    open = serializers.IntegerField(source="counts.open")
    last_hour = ThroughputSerializer()
    last_day = ThroughputSerializer()
    completion_rate = serializers.FloatField(
        allow_null=True, help_text="Completed / (completed + failed) over the last day.")
    durations = DurationsSerializer()
    sla = SlaSerializer()


class QueueRowSerializer(serializers.Serializer):
    task_type = serializers.CharField()
    queue = serializers.CharField()
    priority = serializers.CharField()
    depth = serializers.IntegerField()
    oldest_queued_at = serializers.DateTimeField(allow_null=True)
    oldest_age_seconds = serializers.FloatField(allow_null=True)


class QueueTotalSerializer(serializers.Serializer):
    queue = serializers.CharField()
    priority = serializers.CharField()
    depth = serializers.IntegerField()
    oldest_age_seconds = serializers.FloatField(allow_null=True)


class QueuesSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField()
    total_depth = serializers.IntegerField()
    by_type = QueueRowSerializer(many=True)
    by_queue = QueueTotalSerializer(many=True)


class UnitTypeSerializer(serializers.Serializer):
    unit_type = serializers.CharField()
    online = serializers.IntegerField()
    draining = serializers.IntegerField()
    offline = serializers.IntegerField()
    capacity = serializers.IntegerField(help_text="Of the online and draining units.")
    held = serializers.IntegerField()
    load = serializers.FloatField(allow_null=True, help_text="held / capacity")
    last_heartbeat_at = serializers.DateTimeField(allow_null=True)


class WorkersSerializer(WorkersStatsSerializer):
    """What units were always answered here (by type and status, heartbeats), and per type."""

    online = serializers.IntegerField()
    by_type = UnitTypeSerializer(many=True)


class PersonSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    team = serializers.CharField(help_text="Empty when in no team.")
    availability = serializers.CharField()
    load = serializers.IntegerField()
    capacity = serializers.IntegerField()
    free_capacity = serializers.IntegerField()
    open_tasks = serializers.IntegerField()
    utilisation = serializers.FloatField(allow_null=True)
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    completion_rate = serializers.FloatField(allow_null=True)
    on_time_rate = serializers.FloatField(allow_null=True)
    skill_match_rate = serializers.FloatField(allow_null=True)


class StaffStatsSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    load_gini = serializers.FloatField()
    skill_match_rate = serializers.FloatField(allow_null=True)
    staff = PersonSerializer(many=True)


class StaffQuerySerializer(serializers.Serializer):
    hours = serializers.IntegerField(
        required=False, default=24, min_value=1, max_value=MAX_WINDOW_HOURS,
        help_text="The window of ended work the rates are over, in hours (default 24).")
    team = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1,
                                    help_text="Only the members of this team.")
