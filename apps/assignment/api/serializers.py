from __future__ import annotations

from rest_framework import serializers

from apps.staff.models import Staff
from apps.tasks.api.serializers import StrictFieldsMixin

from ..models import Assignment, Unassignable


class ReassignSerializer(StrictFieldsMixin, serializers.Serializer):
    target = serializers.PrimaryKeyRelatedField(
        queryset=Staff.objects.select_related("user"), required=False, allow_null=True,
        default=None, help_text="Staff id; empty to let the engine choose someone else.",
    )
    force = serializers.BooleanField(
        default=False, help_text="Skip the skills and availability checks (never capacity).")
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class CandidateSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(source="candidate.user_id")
    name = serializers.CharField(source="candidate.name")
    load = serializers.IntegerField(source="candidate.load")
    capacity = serializers.IntegerField(source="candidate.capacity")
    delegated_from = serializers.SerializerMethodField()
    score = serializers.FloatField()
    explanation = serializers.CharField()

    def get_delegated_from(self, scored) -> str | None:
        d = scored.candidate.delegated_from
        return d[1] if d else None


class AssignmentSerializer(serializers.ModelSerializer):
    assignee = serializers.CharField(source="assignee_user.username", read_only=True)

    class Meta:
        model = Assignment
        fields = ["id", "task", "assignee_user", "assignee", "delegated_from", "strategy",
                  "score", "explanation", "reason", "outcome", "outcome_reason",
                  "excludes_assignee", "assigned_by", "created_at", "expires_at", "decided_at"]
        read_only_fields = fields


class UnassignableSerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="task.title", read_only=True)
    task_type = serializers.CharField(source="task.task_type.key", read_only=True)

    class Meta:
        model = Unassignable
        fields = ["task", "title", "task_type", "reason", "since", "checked_at"]
        read_only_fields = fields
