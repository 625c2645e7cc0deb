"""`manage.py ensure_superuser`: idempotent, and never a fixed password."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

ENV_NAMES = ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD", "DJANGO_SUPERUSER_EMAIL")


@pytest.fixture(autouse=True)
def no_superuser_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def run() -> str:
    out = StringIO()
    call_command("ensure_superuser", stdout=out)
    return out.getvalue()


def printed_password(output: str) -> str:
    match = re.search(r"Password:\s+(\S+)", output)
    assert match, output
    return match.group(1)


def test_creates_admin_with_a_random_password_printed_once() -> None:
    output = run()

    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser and user.is_staff
    password = printed_password(output)
    assert len(password) >= 20
    assert user.check_password(password)
    assert output.count(password) == 1


def test_the_password_is_new_every_time() -> None:
    first = printed_password(run())
    get_user_model().objects.all().delete()
    second = printed_password(run())

    assert first != second


def test_second_run_changes_nothing_and_prints_no_password() -> None:
    run()
    user = get_user_model().objects.get(username="admin")

    output = run()

    assert "already exists" in output
    assert "Password" not in output
    assert get_user_model().objects.count() == 1
    user_after = get_user_model().objects.get(username="admin")
    assert user_after.password == user.password


def test_any_existing_superuser_counts() -> None:
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-of-root-9")

    assert "already exists" in run()
    assert not get_user_model().objects.filter(username="admin").exists()


def test_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ops")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "chosen-by-ops-42")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "ops@example.com")

    output = run()

    user = get_user_model().objects.get(username="ops")
    assert user.is_superuser
    assert user.email == "ops@example.com"
    assert user.check_password("chosen-by-ops-42")
    assert "chosen-by-ops-42" not in output  # the operator knows it; logs need not


def test_an_ordinary_user_with_that_name_is_not_promoted() -> None:
    get_user_model().objects.create_user("admin", password="ordinary-pw-7")

    with pytest.raises(CommandError, match="not a superuser"):
        run()

    assert not get_user_model().objects.get(username="admin").is_superuser
