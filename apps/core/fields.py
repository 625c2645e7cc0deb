"""Serializer fields every app's API shares."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.JSONField):
    """A JSON object (a task's payload, a strategy's parameters). The schema says `object`:
    a plain JSONField documents "any value", and a client the schema let send a list or a
    string got a 400 it could not have foreseen. Anything but an object is a 400 naming
    the field."""

    default_error_messages = {"not_object": "Must be a JSON object."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            self.fail("not_object")
        return value
