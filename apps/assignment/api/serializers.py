from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from apps.core.fields import JSONObjectField
from apps.staff.models import Staff
from apps.tasks.api.serializers import StrictFieldsMixin

from ..models import Assignment, AssignmentPolicy, Unassignable
from ..strategies import strategy_class, strategy_names, unknown_strategy_message


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


class StrategyNameField(serializers.CharField):
    """A strategy's name, checked against the registry (apps.assignment.strategies): a name
    it lacks is a 400 naming the field and listing the known ones, not a failed batch later.
    The schema lists the names known when it is generated (StrategyNameFieldSchema)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if strategy_class(value) is None:
            raise serializers.ValidationError(unknown_strategy_message(value))
        return value


class StrategyNameFieldSchema(OpenApiSerializerFieldExtension):
    """Requests take one of the registered names, listed when the schema is generated (a
    project's own strategies included); answers give the stored name."""

    target_class = StrategyNameField

    def map_serializer_field(self, auto_schema, direction):
        schema = {"type": "string", "maxLength": 50}
        if direction == "request":
            schema["enum"] = strategy_names()
        return schema


class AssignmentPolicyFields(serializers.ModelSerializer):
    """The task type fields apps.assignment serves (apps.assignment.hooks): a policy's
    columns, under the names the task type API has always had."""

    strategy = StrategyNameField(max_length=50, required=False)
    strategy_params = JSONObjectField(
        required=False, help_text="The strategy's parameters, a JSON object (default {}).")

    class Meta:
        model = AssignmentPolicy
        # In the order they appear among the task type's fields (see extensions.AFTER).
        fields = ["requires_assignment_confirmation", "strategy", "strategy_params",
                  "confirmation_timeout", "skill_timeout", "overflow_assignee", "leave_policy"]
