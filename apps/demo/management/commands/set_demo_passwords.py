"""`manage.py set_demo_passwords`: a way in for the demo staff, never a fixed password.

The demo team (demo_data) is created without passwords. This gives each demo user a fresh
random password and prints it once; running it again replaces them all.
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from .demo_data import TEAM


class Command(BaseCommand):
    help = "Give each demo user (demo_data's team) a new random password, printed once."

    def handle(self, *args, **options) -> None:
        usernames = [username for username, *_ in TEAM]
        with transaction.atomic():
            users = list(get_user_model().objects.select_for_update()
                         .filter(username__in=usernames).order_by("username"))
            if not users:
                raise CommandError("No demo users: load them with demo_data first.")
            passwords = {}
            for user in users:
                passwords[user.username] = secrets.token_urlsafe(12)
                user.set_password(passwords[user.username])
                user.save(update_fields=["password"])
        lines = "\n".join(f"  {name:<12} {pw}" for name, pw in passwords.items())
        self.stdout.write(self.style.WARNING(
            f"Demo users' new passwords (shown only now; run again to replace them):\n{lines}"))
