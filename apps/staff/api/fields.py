"""`[{skill, level}]` lists, shared by staff skills and task types' required skills.

Kept free of apps.tasks.api imports: the task-type serializer imports this module.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from ..models import Skill

MAX_ID = 2**63 - 1  # a bigint primary key


class SkillLevelListSerializer(serializers.ListSerializer):
    """Resolves every skill reference in two queries at most; the result is (Skill, level)s."""

    def validate(self, attrs):
        refs = [item["skill"] for item in attrs]
        found = _skills_by_ref(refs)
        unknown = [str(r) for r in refs if r not in found]
        if unknown:
            raise serializers.ValidationError(f"Unknown skills: {', '.join(unknown)}.")
        names = [found[r].name for r in refs]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise serializers.ValidationError(f"Skills listed twice: {', '.join(repeated)}.")
        return [(found[item["skill"]], item["level"]) for item in attrs]


def _skills_by_ref(refs: list[str | int]) -> dict[str | int, Skill]:
    names = [r for r in refs if isinstance(r, str)]
    ids = [r for r in refs if isinstance(r, int)]
    found: dict[str | int, Skill] = {}
    if names:
        found.update((s.name, s) for s in Skill.objects.filter(name__in=names))
    if ids:
        found.update((s.pk, s) for s in Skill.objects.filter(pk__in=ids))
    return found


class SkillRefField(serializers.Field):
    """A skill named (a JSON string) or given by id (a JSON integer); shown by name.

    The JSON type decides, so a skill whose name is made of digits is still found by name.
    """

    default_error_messages = {
        "invalid": "Give a skill's name (a string) or its id (an integer).",
        "max_length": "A skill's name has at most 100 characters.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        if isinstance(data, int) and not 1 <= data <= MAX_ID:
            self.fail("invalid")
        if isinstance(data, str) and len(data) > 100:
            self.fail("max_length")
        return data

    def to_representation(self, value):
        return value.name if isinstance(value, Skill) else str(value)


class SkillRefFieldSchema(OpenApiSerializerFieldExtension):
    """Requests take a name or an id; responses always give the name."""

    target_class = SkillRefField

    def map_serializer_field(self, auto_schema, direction):
        name = {"type": "string", "maxLength": 100, "description": "The skill's name."}
        if direction == "response":
            return name
        return {"oneOf": [name, {"type": "integer", "minimum": 1, "maximum": MAX_ID,
                                 "description": "The id POST /api/v1/skills returned."}]}


class SkillLevelSerializer(serializers.Serializer):
    skill = SkillRefField()
    level = serializers.IntegerField(min_value=1, max_value=5)

    class Meta:
        list_serializer_class = SkillLevelListSerializer

    def to_internal_value(self, data):
        # As StrictFieldsMixin does for whole requests: a misspelt key is an error, not ignored.
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["This field cannot be set here."] for name in unknown})
        return super().to_internal_value(data)

    def validate(self, attrs):
        # A PATCH makes the whole tree partial; a skill without its level is still incomplete.
        missing = [name for name in self.fields if name not in attrs]
        if missing:
            raise serializers.ValidationError(
                {name: ["This field is required."] for name in missing})
        return attrs
