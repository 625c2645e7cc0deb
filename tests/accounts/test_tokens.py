"""API tokens: stored hashed, expiring, revocable, checked by the bearer authentication."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import (
    token_authenticate,
    token_issue,
    token_revoke,
    token_revoke_all,
)

pytestmark = pytest.mark.django_db

REVOKE_URL = "/api/v1/auth/revoke"


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_revoke_url_is_the_routed_one():
    assert reverse("auth-revoke") == REVOKE_URL


def test_issued_token_is_stored_only_as_its_sha256(alice):
    token, raw = token_issue(user=alice, name="ci")

    assert raw.startswith("tm_") and len(raw) > 40
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.key_prefix == raw[:8]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        rows = cursor.fetchall()
    assert len(rows) == 1
    assert not any(raw in str(value) for value in rows[0])
    assert not any(raw[8:] in str(value) for value in rows[0])


def test_issued_token_expires_after_the_configured_ttl(alice, settings):
    settings.API_TOKEN_TTL = timedelta(hours=2)

    token, _ = token_issue(user=alice)

    assert token.expires_at - token.created_at == timedelta(hours=2)
    assert token.is_active


def test_valid_token_authenticates_alice_on_an_authenticated_endpoint(api_client, alice):
    token, raw = token_issue(user=alice)

    response = api_client.post(REVOKE_URL, **bearer(raw))

    assert response.status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_request_without_token_gets_401_with_bearer_challenge(api_client):
    response = api_client.post(REVOKE_URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer tm_one tm_two", "Bearer tm_not-a-real-token", "Bearer not-ours"],
)
def test_malformed_or_unknown_token_gets_401(api_client, header):
    response = api_client.post(REVOKE_URL, HTTP_AUTHORIZATION=header)

    assert response.status_code == 401


def test_expired_token_gets_401(api_client, alice):
    token, raw = token_issue(user=alice)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = api_client.post(REVOKE_URL, **bearer(raw))

    assert response.status_code == 401
    assert token_authenticate(raw=raw) is None


def test_revoked_token_gets_401(api_client, alice):
    token, raw = token_issue(user=alice)
    token_revoke(token=token)

    response = api_client.post(REVOKE_URL, **bearer(raw))

    assert response.status_code == 401


def test_token_of_deactivated_user_gets_401(api_client, mallory):
    _, raw = token_issue(user=mallory)
    mallory.is_active = False
    mallory.save(update_fields=["is_active"])

    response = api_client.post(REVOKE_URL, **bearer(raw))

    assert response.status_code == 401


def test_revoking_through_the_api_ends_that_token_only(api_client, alice):
    _, first = token_issue(user=alice)
    _, second = token_issue(user=alice)

    assert api_client.post(REVOKE_URL, **bearer(first)).status_code == 204

    assert api_client.post(REVOKE_URL, **bearer(first)).status_code == 401
    assert token_authenticate(raw=second) is not None


def test_session_login_cannot_revoke_because_there_is_no_token(api_client, alice):
    api_client.force_login(alice)

    response = api_client.post(REVOKE_URL)

    assert response.status_code == 401


def test_authentication_is_one_query_and_touches_last_used_at_every_five_minutes(
    alice, django_assert_num_queries
):
    token, raw = token_issue(user=alice)

    with django_assert_num_queries(2):  # SELECT token+user, first-use UPDATE
        found = token_authenticate(raw=raw)
    assert found.pk == token.pk
    assert found.user.username == alice.username  # loaded by the same query
    first_use = found.last_used_at
    assert first_use is not None

    with django_assert_num_queries(1):  # used again within 5 minutes: no write
        token_authenticate(raw=raw)
    token.refresh_from_db()
    assert token.last_used_at == first_use

    stale = timezone.now() - timedelta(minutes=6)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=stale)
    with django_assert_num_queries(2):
        token_authenticate(raw=raw)
    token.refresh_from_db()
    assert token.last_used_at > stale + timedelta(minutes=5)


def test_revoke_is_idempotent_and_keeps_the_first_revocation_time(alice):
    token, _ = token_issue(user=alice)

    assert token_revoke(token=token) is True
    first = token.revoked_at
    assert token_revoke(token=token) is False

    token.refresh_from_db()
    assert token.revoked_at == first
    assert not token.is_active


def test_revoke_all_ends_every_token_of_alice_in_one_update_and_spares_mallory(
    alice, mallory, django_assert_num_queries
):
    for _ in range(3):
        token_issue(user=alice)
    already, _ = token_issue(user=alice)
    token_revoke(token=already)
    _, mallory_raw = token_issue(user=mallory)

    with django_assert_num_queries(1):
        count = token_revoke_all(user=alice)

    assert count == 3
    assert not ApiToken.objects.filter(user=alice).active().exists()
    assert token_authenticate(raw=mallory_raw) is not None


def test_the_token_found_is_the_one_the_orm_reads_with_its_user(alice):
    # token_authenticate writes its SELECT by hand (once per process): what it loads must be
    # what the ORM would, every field of the token and of its user, types included.
    alice.first_name, alice.last_login = "Alice", timezone.now() - timedelta(days=1)
    alice.save()
    token, raw = token_issue(user=alice, name="ci")
    found = token_authenticate(raw=raw)
    expected = ApiToken.objects.select_related("user").get(pk=token.pk)

    def values(obj):
        return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}

    assert values(found) == values(expected)
    assert values(found.user) == values(expected.user)
    assert not found._state.adding and not found.user._state.adding
