"""API throttles: exact per-user limits counted in Redis, a 429 with Retry-After past them."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from apps.accounts.throttling import UserCounterThrottle

pytestmark = pytest.mark.django_db


def test_a_user_past_the_rate_gets_429_with_retry_after(monkeypatch, django_user_model):
    user = django_user_model.objects.create_user(username=f"tess-{uuid.uuid4().hex[:8]}")
    client = APIClient()
    client.force_authenticate(user)
    # user ids repeat across test databases sharing one Redis: a fresh scope per test run
    scope = f"user-{uuid.uuid4().hex}"
    monkeypatch.setattr(UserCounterThrottle, "scope", scope)
    monkeypatch.setitem(UserCounterThrottle.THROTTLE_RATES, scope, "3/min")
    codes = [client.get("/api/v1/tasks").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    resp = client.get("/api/v1/tasks")
    assert 1 <= int(resp["Retry-After"]) <= 60
