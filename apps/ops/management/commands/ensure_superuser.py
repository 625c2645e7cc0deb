"""`manage.py ensure_superuser`: make sure someone can log in to the admin, safely and once.

Runs on every `make run`, so it must be idempotent. It never uses a fixed default password:
either the operator provides one (DJANGO_SUPERUSER_PASSWORD) or a random one is generated and
shown exactly once.
"""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

DEFAULT_USERNAME = "admin"
BANNER_WIDTH = 72


class Command(BaseCommand):
    help = (
        "Create a superuser unless one exists, from DJANGO_SUPERUSER_USERNAME / _PASSWORD / "
        "_EMAIL, or as 'admin' with a random password printed once."
    )

    def handle(self, *args, **options) -> None:
        user_model = get_user_model()
        if user_model._default_manager.filter(is_superuser=True).exists():
            self.stdout.write("A superuser already exists; nothing to do.")
            return
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or DEFAULT_USERNAME
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or None
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        if password is not None:
            self._create(username, email, password)
            self.stdout.write(f"Superuser {username!r} created from DJANGO_SUPERUSER_* settings.")
            return
        password = secrets.token_urlsafe(16)
        self._create(username, email, password)
        self._show_once(username, password)

    def _create(self, username: str, email: str, password: str) -> None:
        user_model = get_user_model()
        lookup = {user_model.USERNAME_FIELD: username}
        with transaction.atomic():
            # Promoting an existing ordinary account silently would hand it full rights.
            if user_model._default_manager.filter(**lookup).exists():
                raise CommandError(
                    f"User {username!r} exists but is not a superuser; promote it in the admin "
                    "or set DJANGO_SUPERUSER_USERNAME to another name."
                )
            user_model._default_manager.create_superuser(**lookup, email=email, password=password)

    def _show_once(self, username: str, password: str) -> None:
        rule = "=" * BANNER_WIDTH
        self.stdout.write(
            self.style.WARNING(
                f"{rule}\n"
                f"  Superuser created: {username}\n"
                f"  Password:          {password}\n"
                "  Shown only this once: save it now. Change it in the admin, or set\n"
                "  DJANGO_SUPERUSER_PASSWORD before the first run to choose your own.\n"
                f"{rule}"
            )
        )
