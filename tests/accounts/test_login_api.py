"""POST /api/v1/auth/token: username and password in, a bearer token out, exactly rate-limited."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings as django_settings
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.accounts import ratelimit
from apps.accounts.models import ApiToken
from apps.accounts.services import hash_token
from tests.builders import field_errors

from .conftest import random_client_ip

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token"
REVOKE_URL = "/api/v1/auth/revoke"


def test_someone_exchanges_their_password_for_a_working_token(api_client, account, password):
    response = api_client.post(TOKEN_URL, {"username": account.username, "password": password})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    token = ApiToken.objects.get(key_hash=hash_token(raw=body["token"]))
    assert token.user == account
    assert token.expires_at.isoformat().replace("+00:00", "Z") == body["expires_at"]
    revoked = APIClient().post(REVOKE_URL, HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert revoked.status_code == 204


def test_wrong_password_is_400_with_a_non_field_error(api_client, account):
    response = api_client.post(TOKEN_URL, {"username": account.username, "password": "guess"})

    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["Unable to log in with the provided credentials."],
        "detail": "Unable to log in with the provided credentials.", "code": "invalid",
    }
    assert not ApiToken.objects.exists()


def test_unknown_username_gets_the_same_answer_as_a_wrong_password(api_client, password):
    response = api_client.post(TOKEN_URL, {"username": "nobody-here", "password": password})

    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_deactivated_user_cannot_log_in(api_client, make_account, password):
    deactivated = make_account("deactivated", is_active=False)

    response = api_client.post(TOKEN_URL, {"username": deactivated.username, "password": password})

    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_missing_fields_are_400_with_field_errors(api_client):
    response = api_client.post(TOKEN_URL, {})

    assert response.status_code == 400
    assert set(field_errors(response)) == {"username", "password"}


def test_login_ignores_a_stale_bearer_header(api_client, account, password):
    # The endpoint authenticates nobody: a stale token in the client must not block login.
    response = api_client.post(
        TOKEN_URL,
        {"username": account.username, "password": password},
        HTTP_AUTHORIZATION="Bearer tm_stale",
    )

    assert response.status_code == 200


def test_username_limit_answers_429_after_exactly_n_attempts_from_any_client(
    settings, make_api_client, account, password
):
    settings.LOGIN_RATE_PER_USERNAME = 3
    settings.LOGIN_RATE_PER_CLIENT = 100
    # Mallory rotates client addresses; the per-username counter still sees every attempt.
    statuses = [
        make_api_client()
        .post(TOKEN_URL, {"username": account.username, "password": f"guess{n}"})
        .status_code
        for n in range(3)
    ]
    blocked = make_api_client().post(TOKEN_URL, {"username": account.username,
                                                 "password": password})

    assert statuses == [400, 400, 400]
    assert blocked.status_code == 429
    retry_after = int(blocked["Retry-After"])
    assert 1 <= retry_after <= settings.LOGIN_RATE_WINDOW_SECONDS
    assert not ApiToken.objects.exists()  # even the right password waits for the window


def test_client_limit_answers_429_across_usernames(settings, api_client, make_account, password):
    settings.LOGIN_RATE_PER_CLIENT = 2
    settings.LOGIN_RATE_PER_USERNAME = 100
    users = [make_account(name) for name in ("ann", "ben", "cid")]

    statuses = [
        api_client.post(TOKEN_URL, {"username": u.username, "password": password}).status_code
        for u in users
    ]

    assert statuses == [200, 200, 429]


def test_login_still_works_when_the_counters_redis_is_down(
    settings, api_client, account, password, caplog
):
    settings.COUNTERS_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    ratelimit.reset_client()

    with caplog.at_level(logging.WARNING, logger="apps.accounts.ratelimit"):
        response = api_client.post(TOKEN_URL, {"username": account.username, "password": password})

    assert response.status_code == 200
    assert "rate limiter unavailable" in caplog.text


def test_schema_shows_bearer_auth_and_the_login_shapes():
    generator = SchemaGenerator(patterns=[path("api/v1/", include("apps.accounts.api.urls"))])
    GENERATOR_STATS.reset()

    with GENERATOR_STATS.silence():
        schema = generator.get_schema(request=None, public=True)

    # `manage.py check --deploy` turns any of these into a warning.
    assert not GENERATOR_STATS, dict(GENERATOR_STATS._warn_cache | GENERATOR_STATS._error_cache)

    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    login = schema["paths"]["/api/v1/auth/token"]["post"]
    assert login.get("security", [{}]) == [{}]  # no credentials needed to log in
    request_ref = login["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request_schema = schema["components"]["schemas"][request_ref.rsplit("/", 1)[1]]
    assert sorted(request_schema["required"]) == ["password", "username"]
    response_ref = login["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    response_schema = schema["components"]["schemas"][response_ref.rsplit("/", 1)[1]]
    assert set(response_schema["properties"]) == {"token", "expires_at"}
    assert {"400", "429"} <= set(login["responses"])
    revoke = schema["paths"]["/api/v1/auth/revoke"]["post"]
    assert revoke["security"] == [{"bearerAuth": []}]


def test_bad_attempts_from_one_client_do_not_lock_the_user_out_from_another(
    make_api_client, account, password
):
    attacker, own_client = make_api_client(), make_api_client()
    limit = django_settings.LOGIN_RATE_PER_USERNAME_CLIENT  # the shipped defaults

    statuses = [
        attacker.post(TOKEN_URL, {"username": account.username,
                                  "password": f"guess{n}"}).status_code
        for n in range(limit + 1)
    ]
    response = own_client.post(TOKEN_URL, {"username": account.username, "password": password})

    assert statuses == [400] * limit + [429]
    assert response.status_code == 200
    assert ApiToken.objects.filter(user=account).count() == 1


def test_username_ceiling_spares_the_client_the_user_signed_in_from(
    settings, make_api_client, account, password
):
    settings.LOGIN_RATE_PER_USERNAME = 3
    home = make_api_client()
    signed_in = home.post(TOKEN_URL, {"username": account.username, "password": password})
    assert signed_in.status_code == 200
    # Mallory fills the ceiling from addresses of her own (one attempt each) ...
    for n in range(3):
        make_api_client().post(TOKEN_URL, {"username": account.username, "password": f"guess{n}"})

    from_elsewhere = make_api_client().post(
        TOKEN_URL, {"username": account.username, "password": password}
    )
    from_home = home.post(TOKEN_URL, {"username": account.username, "password": password})

    # ... which stops guessing from new addresses, but not Alice where she signs in.
    assert from_elsewhere.status_code == 429
    assert from_home.status_code == 200


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    settings, make_api_client, make_account, password
):
    settings.LOGIN_RATE_PER_CLIENT = 2
    users = [make_account(f"u{n}") for n in range(3)]

    def attempts(client):
        return [
            client.post(
                TOKEN_URL,
                {"username": u.username, "password": password},
                HTTP_X_FORWARDED_FOR=random_client_ip(),  # a new "client" every time
            ).status_code
            for u in users
        ]

    spoofing = make_api_client()
    proxy = make_api_client()
    settings.TRUSTED_PROXIES = [proxy.defaults["REMOTE_ADDR"]]

    assert attempts(spoofing) == [200, 200, 429]
    assert attempts(proxy) == [200, 200, 200]  # three clients behind our proxy
