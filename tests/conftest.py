"""Fixtures shared by every test package."""

from __future__ import annotations

import pytest

# The same people in every package (tests/cast.py).
pytest_plugins = ["tests.cast"]


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # The production hashers are slow on purpose; tests create and check many passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_task_type_cache():
    # Each test's rows are rolled back; a type cached by one test must not outlive it.
    from apps.tasks.selectors import forget_task_types

    forget_task_types()
    yield
    forget_task_types()
