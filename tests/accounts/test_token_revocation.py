"""A token stops working when its user's password changes or the user is deactivated."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken
from apps.accounts.services import token_issue

from .conftest import random_client_ip

pytestmark = pytest.mark.django_db

PROBE_URL = "/api/v1/tasks"


class UpgradedHasher(MD5PasswordHasher):
    """Stands for a newer hasher: hashes made with plain MD5 get upgraded on login."""

    algorithm = "md5-upgraded"


def works(raw: str) -> bool:
    status = APIClient().get(PROBE_URL, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code
    assert status in (200, 401), status
    return status == 200


@pytest.fixture
def operator(make_account):
    return make_account("operator", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(operator, password):
    client = Client(REMOTE_ADDR=random_client_ip())
    assert client.post("/admin/login/", {"username": operator.username, "password": password})
    return client


def test_password_changed_in_the_admin_revokes_the_users_tokens(admin_client, alice):
    _, raw = token_issue(user=alice)
    assert works(raw)
    new = "a new one, 2026!"

    response = admin_client.post(
        f"/admin/auth/user/{alice.pk}/password/",
        {"usable_password": "true", "password1": new, "password2": new},
    )

    assert response.status_code == 302
    assert not works(raw)
    assert ApiToken.objects.get(user=alice).revoked_at is not None


def test_password_disabled_in_the_admin_revokes_the_users_tokens(admin_client, alice):
    _, raw = token_issue(user=alice)

    response = admin_client.post(
        f"/admin/auth/user/{alice.pk}/password/",
        {"usable_password": "false", "unset-password": "Disable password-based authentication"},
    )

    assert response.status_code == 302
    alice.refresh_from_db()
    assert not alice.has_usable_password()
    assert not works(raw)


def test_set_password_and_save_revokes_every_token_of_that_user_only(alice, mallory):
    _, first = token_issue(user=alice)
    _, second = token_issue(user=alice)
    _, other = token_issue(user=mallory)

    alice.set_password("another passphrase")
    alice.save()

    assert (works(first), works(second), works(other)) == (False, False, True)


def test_deactivation_revokes_tokens_for_good(alice):
    _, raw = token_issue(user=alice)

    alice.is_active = False
    alice.save(update_fields=["is_active"])
    alice.is_active = True
    alice.save()

    assert not works(raw)  # reactivating does not bring old tokens back
    assert ApiToken.objects.get(user=alice).revoked_at is not None


def test_deactivation_in_the_admin_revokes_tokens(admin_client, alice):
    _, raw = token_issue(user=alice)
    page = admin_client.get(f"/admin/auth/user/{alice.pk}/change/")
    form = page.context["adminform"].form
    data = {
        name: value for name, value in form.initial.items()
        if value is not None and name not in {"is_active", "groups", "user_permissions"}
    }  # fmt: skip
    data.update({"last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01",
                 "date_joined_1": "00:00:00"})  # fmt: skip

    response = admin_client.post(f"/admin/auth/user/{alice.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    alice.refresh_from_db()
    assert not alice.is_active
    assert not works(raw)
    assert ApiToken.objects.get(user=alice).revoked_at is not None


def test_other_changes_to_a_user_keep_their_tokens(alice):
    _, raw = token_issue(user=alice)

    alice.email = "alice@example.com"
    alice.save()
    alice.first_name = "Alice"
    alice.save(update_fields=["first_name"])

    assert works(raw)


def test_a_hash_upgraded_on_login_is_not_a_password_change(settings, account, password):
    # alice's hash was made with MD5 (the test default); the configured hasher is now newer.
    settings.PASSWORD_HASHERS = [
        "tests.accounts.test_token_revocation.UpgradedHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    _, raw = token_issue(user=account)
    login = APIClient(REMOTE_ADDR=random_client_ip()).post(
        "/api/v1/auth/token", {"username": account.username, "password": password}
    )

    account.refresh_from_db()
    assert login.status_code == 200
    assert account.password.startswith("md5-upgraded$")  # upgraded on login
    assert works(raw)
