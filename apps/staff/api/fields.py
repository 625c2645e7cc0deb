"""`[{skill, level}]` lists, shared by staff skills and task types' required skills.

Kept free of apps.tasks.api imports: the task-type serializer imports this module.
"""

from __future__ import annotations

from rest_framework import serializers

from ..models import Skill


class SkillLevelListSerializer(serializers.ListSerializer):
    """Resolves every skill name in one query; the result is a list of (Skill, level)."""

    def validate(self, attrs):
        names = [item["skill"] for item in attrs]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise serializers.ValidationError(f"Skills listed twice: {', '.join(repeated)}.")
        found = {s.name: s for s in Skill.objects.filter(name__in=names)}
        unknown = [n for n in names if n not in found]
        if unknown:
            raise serializers.ValidationError(f"Unknown skills: {', '.join(unknown)}.")
        return [(found[item["skill"]], item["level"]) for item in attrs]


class SkillNameField(serializers.CharField):
    def to_representation(self, value):
        return value.name if isinstance(value, Skill) else str(value)


class SkillLevelSerializer(serializers.Serializer):
    skill = SkillNameField(max_length=100)
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
