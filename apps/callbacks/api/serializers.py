"""Callback API shapes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from ..models import URL_MAX_LENGTH, CallbackAttempt, CallbackDelivery, CallbackSecret
from ..transport import url_problem


class CallbackUrlField(serializers.CharField):
    """Where the task's final state is POSTed: http(s), no credentials, and (unless
    CALLBACK_ALLOW_PRIVATE) not a private, loopback, link-local or reserved address."""

    @classmethod
    def for_create(cls) -> CallbackUrlField:
        return cls(max_length=URL_MAX_LENGTH, required=False, allow_null=True,
                   help_text="On a terminal state, the task's final state is POSTed here, "
                             "signed with your callback secret (README, Callbacks).")

    @classmethod
    def for_answer(cls) -> CallbackUrlField:
        return cls(read_only=True, allow_null=True)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = url_problem(value, allow_private=settings.CALLBACK_ALLOW_PRIVATE)
        if problem:
            raise serializers.ValidationError(problem)
        return value


def callback_url_of(task: Any) -> str | None:
    if hasattr(task, "callback_url_known"):  # set on a task just created
        return task.callback_url_known
    callback = getattr(task, "callback", None)  # reverse one-to-one: None when absent
    return None if callback is None else callback.url


class CallbackAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = CallbackAttempt
        fields = ["number", "started_at", "duration_ms", "status_code", "error"]
        read_only_fields = fields


class CallbackDeliverySerializer(serializers.ModelSerializer):
    attempts_made = CallbackAttemptSerializer(source="attempt_rows", many=True, read_only=True)

    class Meta:
        model = CallbackDelivery
        fields = ["id", "url", "task_status", "status", "attempts", "next_attempt_at",
                  "replay_of", "created_at", "finished_at", "attempts_made"]
        read_only_fields = fields


class CallbackSecretSerializer(serializers.ModelSerializer):
    class Meta:
        model = CallbackSecret
        fields = ["secret", "created_at", "rotated_at"]
        read_only_fields = fields
