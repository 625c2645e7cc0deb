"""/admin/login/ is guarded by the same exact counters as the API's token login."""

from __future__ import annotations

import pytest
from django.contrib.auth.signals import user_login_failed
from django.test import Client

from apps.accounts import ratelimit
from apps.accounts.services import client_rate_key

from .conftest import random_client_ip

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/"
TOKEN_URL = "/api/v1/auth/token"


@pytest.fixture
def operator(make_account):
    return make_account("operator", is_staff=True, is_superuser=True)


@pytest.fixture
def password_checks():
    """How many times a password was checked and found wrong (Django's own signal)."""
    failures = []

    def count(**kwargs):
        failures.append(kwargs["credentials"]["username"])

    user_login_failed.connect(count)
    yield failures
    user_login_failed.disconnect(count)


def client_counter(ip: str) -> int:
    raw = ratelimit.get_client().get(f"{ratelimit.KEY_PREFIX}login:client:{client_rate_key(ip=ip)}")
    return int(raw or 0)


def test_operator_signs_in_to_the_admin(operator, password):
    client = Client(REMOTE_ADDR=random_client_ip())

    response = client.post(ADMIN_LOGIN, {"username": operator.username, "password": password})

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_login_over_the_limit_is_429_without_checking_the_password(
    settings, operator, password, password_checks
):
    settings.LOGIN_RATE_PER_CLIENT = 3
    ip = random_client_ip()
    client = Client(REMOTE_ADDR=ip)
    guesses = [
        client.post(ADMIN_LOGIN, {"username": operator.username, "password": f"guess{n}"})
        for n in range(3)
    ]

    throttled = [
        client.post(ADMIN_LOGIN, {"username": operator.username, "password": password})
        for _ in range(2)
    ]

    assert [r.status_code for r in guesses] == [200, 200, 200]  # the form, with its error
    assert [r.status_code for r in throttled] == [429, 429]
    assert 1 <= int(throttled[0]["Retry-After"]) <= settings.LOGIN_RATE_WINDOW_SECONDS
    assert "Too many login attempts" in throttled[0].content.decode()
    assert "_auth_user_id" not in client.session  # even the right password waits
    assert len(password_checks) == 3  # the throttled attempts never reached the hasher
    assert client_counter(ip) == 5  # every attempt counted, exactly


def test_api_and_admin_logins_share_one_count(settings, operator, password, make_api_client):
    settings.LOGIN_RATE_PER_CLIENT = 3
    ip = random_client_ip()
    api = make_api_client()
    api.defaults["REMOTE_ADDR"] = ip
    for n in range(2):
        api.post(TOKEN_URL, {"username": operator.username, "password": f"guess{n}"})
    admin = Client(REMOTE_ADDR=ip)

    last_allowed = admin.post(ADMIN_LOGIN, {"username": operator.username, "password": "x"})
    refused = admin.post(ADMIN_LOGIN, {"username": operator.username, "password": password})

    assert last_allowed.status_code == 200
    assert refused.status_code == 429
    via_api = api.post(TOKEN_URL, {"username": operator.username, "password": password})
    assert via_api.status_code == 429


def test_oversized_admin_password_is_refused_before_hashing(operator, password_checks):
    client = Client(REMOTE_ADDR=random_client_ip())

    response = client.post(ADMIN_LOGIN, {"username": operator.username, "password": "x" * 4097})

    assert response.status_code == 200
    assert "password" in response.context["form"].errors
    assert password_checks == []
