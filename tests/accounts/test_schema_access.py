"""The OpenAPI schema and its pages: signed-in callers only, unless API_SCHEMA_PUBLIC."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.services import token_issue

pytestmark = pytest.mark.django_db

PAGES = ["/api/schema/", "/api-docs/"]


@pytest.mark.parametrize("url", PAGES)
def test_private_schema_refuses_anonymous_callers(settings, url):
    settings.API_SCHEMA_PUBLIC = False

    response = APIClient().get(url)

    assert response.status_code == 401


@pytest.mark.parametrize("url", PAGES)
def test_private_schema_answers_a_bearer_token(settings, alice, url):
    settings.API_SCHEMA_PUBLIC = False
    _, raw = token_issue(user=alice)

    assert APIClient().get(url, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_private_schema_answers_an_admin_session(settings, make_account, password):
    settings.API_SCHEMA_PUBLIC = False
    operator = make_account("operator", is_staff=True)
    browser = Client()
    browser.force_login(operator)

    assert [browser.get(url).status_code for url in PAGES] == [200, 200]


@pytest.mark.parametrize("url", PAGES)
def test_public_schema_answers_anyone(settings, url):
    settings.API_SCHEMA_PUBLIC = True

    assert APIClient().get(url).status_code == 200
