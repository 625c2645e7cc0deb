"""The ApiToken admin: view and revoke, never add or edit."""

from __future__ import annotations

import pytest
from django.contrib import messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.models import ApiToken
from apps.accounts.services import token_issue, token_revoke

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:accounts_apitoken_changelist")


@pytest.fixture
def operator(client, make_account):
    user = make_account("operator", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def test_bulk_revoke_is_one_update_with_a_pluralised_message(client, operator, alice, mallory):
    tokens = [token_issue(user=alice)[0], token_issue(user=mallory)[0]]
    already = token_issue(user=alice)[0]
    token_revoke(token=already)
    selected = [str(t.pk) for t in [*tokens, already]]

    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            CHANGELIST, {"action": "revoke_selected", "_selected_action": selected}, follow=True
        )

    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "accounts_apitoken"')]
    assert len(updates) == 1
    assert [str(m) for m in messages.get_messages(response.wsgi_request)] == [
        "2 tokens were revoked."
    ]
    assert not ApiToken.objects.active().exists()


def test_bulk_revoke_of_one_token_says_token_singular(client, operator, alice):
    token, _ = token_issue(user=alice)

    response = client.post(
        CHANGELIST, {"action": "revoke_selected", "_selected_action": [token.pk]}, follow=True
    )

    assert [str(m) for m in messages.get_messages(response.wsgi_request)] == [
        "1 token was revoked."
    ]


def test_changelist_queries_do_not_grow_with_tokens(client, operator, alice, mallory):
    token_issue(user=alice)
    with CaptureQueriesContext(connection) as one:
        assert client.get(CHANGELIST).status_code == 200
    for user in (alice, mallory, alice, mallory):
        token_issue(user=user)
    with CaptureQueriesContext(connection) as five:
        response = client.get(CHANGELIST)

    assert response.status_code == 200
    assert alice.username in response.content.decode()
    assert len(five) == len(one)


def test_changelist_filters_and_searches(client, operator, alice, mallory):
    revoked, _ = token_issue(user=alice)
    token_revoke(token=revoked)
    live, _ = token_issue(user=mallory)

    active = client.get(CHANGELIST, {"state": "active"}).context["cl"].result_list
    found = client.get(CHANGELIST, {"q": live.key_prefix}).context["cl"].result_list

    assert list(active) == [live]
    assert list(found) == [live]


def test_tokens_cannot_be_added_or_edited_in_the_admin(client, operator, alice):
    token, _ = token_issue(user=alice)
    token_revoke(token=token)
    change_url = reverse("admin:accounts_apitoken_change", args=[token.pk])

    add = client.get(reverse("admin:accounts_apitoken_add"))
    page = client.get(change_url)
    post = client.post(change_url, {"name": "renamed", "revoked_at": ""})

    assert add.status_code == 403
    assert page.status_code == 200
    assert 'name="key_hash"' not in page.content.decode()
    assert 'name="revoked_at"' not in page.content.decode()
    assert post.status_code == 403
    token.refresh_from_db()
    assert token.name == "api" and token.revoked_at is not None
