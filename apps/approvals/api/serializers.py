"""Approval API shapes. Serializers validate and shape; services decide and write."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.tasks.api.serializers import StrictFieldsMixin
from apps.tasks.models import Task

from ..models import ApprovalRequest
from ..policies import allowed_actions


class ApprovalTaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = ["id", "title", "status"]
        read_only_fields = fields


class ApprovalRequestSerializer(serializers.ModelSerializer):
    task = ApprovalTaskSerializer(read_only=True)
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True,
                                             allow_null=True)
    decider = serializers.SlugRelatedField(slug_field="username", read_only=True,
                                           allow_null=True)
    overdue = serializers.BooleanField(source="is_overdue", read_only=True)
    allowed_actions = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalRequest
        fields = [
            "id", "kind", "status", "task", "requester", "decider", "comment", "created_at",
            "decided_at", "due_at", "overdue", "escalated_at", "allowed_actions",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_allowed_actions(self, request: ApprovalRequest) -> list[str]:
        return allowed_actions(self.context["request"].user, request)


class DecisionSerializer(StrictFieldsMixin, serializers.Serializer):
    comment = serializers.CharField(max_length=2000, required=False, default="",
                                    allow_blank=True)


class RejectionSerializer(StrictFieldsMixin, serializers.Serializer):
    comment = serializers.CharField(
        max_length=2000, help_text="Why: the requester (and, for a completion, the assignee in "
                                   "the task's logs) reads it.",
    )
