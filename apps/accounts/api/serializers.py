from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from ..services import PASSWORD_MAX_LENGTH

_USERNAME_MAX_LENGTH = get_user_model()._meta.get_field("username").max_length or 150


class TokenObtainSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=_USERNAME_MAX_LENGTH)
    # Passwords are taken as typed: no trimming, and a bound so a megabyte "password" is
    # refused before it reaches the (deliberately slow) hasher.
    password = serializers.CharField(
        max_length=PASSWORD_MAX_LENGTH,
        trim_whitespace=False,
        write_only=True,
        style={"input_type": "password"},
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Bearer <token>`. Shown once.")
    expires_at = serializers.DateTimeField()
