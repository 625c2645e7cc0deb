"""Staff API shapes. Serializers validate and shape; services decide and write."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from apps.accounts.services import PASSWORD_MAX_LENGTH
from apps.tasks.api.serializers import StrictFieldsMixin

from ..models import Availability, Leave, Skill, Staff, Team
from .fields import SkillLevelSerializer

User = get_user_model()
LEVEL = {"min_value": 1, "max_value": 5}
CAPACITY = {"min_value": 0, "max_value": 32767}  # PositiveSmallIntegerField


class SkillSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Skill
        fields = ["id", "name", "description"]
        # The column is unbounded (TextField); a description is a paragraph, not a file.
        extra_kwargs = {"description": {"max_length": 2000}}


class TeamSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    manager = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), required=False, allow_null=True)
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, allow_null=True)

    class Meta:
        model = Team
        fields = ["id", "name", "manager", "parent"]

    def validate_parent(self, value):
        if value is not None and self.instance is not None and value.pk == self.instance.pk:
            raise serializers.ValidationError("A team cannot be inside itself.")
        return value


class StaffSerializer(serializers.ModelSerializer):
    """What the directory shows. Expects staff_directory()'s annotations and prefetches."""

    user = serializers.IntegerField(source="user_id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.CharField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.get_full_name", read_only=True)
    team_name = serializers.CharField(source="team.name", read_only=True, default=None,
                                      allow_null=True)
    current_load = serializers.IntegerField(source="load", read_only=True)
    free_capacity = serializers.IntegerField(read_only=True)
    on_leave_now = serializers.BooleanField(read_only=True)
    skills = SkillLevelSerializer(source="staff_skills", many=True, read_only=True)

    class Meta:
        model = Staff
        fields = [
            "id", "user", "username", "email", "full_name", "team", "team_name", "capacity",
            "current_load", "free_capacity", "seniority", "rating", "availability",
            "on_leave_now", "skills", "last_assigned_at",
        ]
        read_only_fields = fields


class StaffWriteFields(StrictFieldsMixin, serializers.Serializer):
    """The settings of a person that managers and admins change."""

    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, allow_null=True)
    capacity = serializers.IntegerField(required=False, **CAPACITY)
    seniority = serializers.IntegerField(required=False, **LEVEL)
    rating = serializers.IntegerField(required=False, **LEVEL)
    availability = serializers.ChoiceField(choices=Availability.choices, required=False)
    skills = SkillLevelSerializer(many=True, required=False)


class StaffUpdateSerializer(StaffWriteFields):
    pass


class StaffCreateSerializer(StaffWriteFields):
    username = serializers.CharField(max_length=150)
    # Taken as typed (login does not trim either), and bounded before the slow hasher.
    password = serializers.CharField(write_only=True, required=False, allow_null=True,
                                     default=None, style={"input_type": "password"},
                                     max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False,
                                     help_text="Leave out to make them set one by a reset.")
    email = serializers.EmailField(max_length=User._meta.get_field("email").max_length,
                                   required=False, default="", allow_blank=True)
    first_name = serializers.CharField(max_length=150, required=False, default="",
                                       allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, default="",
                                      allow_blank=True)

    def validate_username(self, value):
        for validator in User._meta.get_field("username").validators:
            try:
                validator(value)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages) from exc
        if User.objects.filter(username=value).exists():
            raise serializers.ValidationError("A user with that username already exists.")
        return value

    def validate(self, attrs):
        if attrs.get("password") is not None:
            probe = User(username=attrs["username"], email=attrs.get("email", ""))
            try:
                validate_password(attrs["password"], user=probe)
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": exc.messages}) from exc
        return attrs


class LeaveSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A leave of a staff member; its rules (order, overlap, substitute) are the service's
    (apps.staff.services.leave_check), which the admin and imports share."""

    substitute = serializers.PrimaryKeyRelatedField(
        queryset=Staff.objects.all(), required=False, allow_null=True)
    substitute_username = serializers.CharField(
        source="substitute.user.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Leave
        fields = ["id", "staff", "start", "end", "reason", "substitute", "substitute_username",
                  "started_handled_at", "created_at"]
        read_only_fields = ["id", "staff", "started_handled_at", "created_at"]

