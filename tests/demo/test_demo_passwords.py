"""The demo users get a way in: random passwords, printed once, never a fixed default."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from tests.builders import make_user

pytestmark = pytest.mark.django_db

DEMO = ["demo-ann", "demo-ben", "demo-cat"]


def printed_passwords() -> dict[str, str]:
    out = StringIO()
    call_command("set_demo_passwords", stdout=out)
    return dict(re.findall(r"^\s+(demo-\w+)\s+(\S+)$", out.getvalue(), re.MULTILINE))


def test_each_demo_user_signs_in_with_the_password_printed_for_them() -> None:
    for name in DEMO:
        make_user(name)
    bystander = make_user("olga")
    olga_hash = bystander.password

    passwords = printed_passwords()

    assert sorted(passwords) == DEMO
    assert len(set(passwords.values())) == 3
    for name, password in passwords.items():
        assert authenticate(username=name, password=password).username == name
    bystander.refresh_from_db()
    assert bystander.password == olga_hash  # only the demo users are touched


def test_running_it_again_replaces_the_passwords() -> None:
    make_user("demo-ann")
    first = printed_passwords()["demo-ann"]

    second = printed_passwords()["demo-ann"]

    assert second != first
    assert authenticate(username="demo-ann", password=first) is None
    assert authenticate(username="demo-ann", password=second) is not None


def test_without_demo_users_it_says_how_to_load_them() -> None:
    with pytest.raises(CommandError, match="demo_data"):
        call_command("set_demo_passwords", stdout=StringIO())
