from __future__ import annotations

import ipaddress
import secrets
import uuid

import pytest
from rest_framework.test import APIClient

from apps.accounts import ratelimit


@pytest.fixture(autouse=True)
def fresh_counters_client():
    # Each test builds the counters client from settings as they are then (some tests point
    # it at a dead Redis), and leaves no client behind for the next one.
    ratelimit.reset_client()
    yield
    ratelimit.reset_client()


def random_client_ip() -> str:
    # Login counters are per client (per /64 for IPv6) and live in a real, shared Redis, so
    # every client in every test gets its own network inside the documentation prefix
    # 2001:db8::/32; parallel and repeated runs never share a bucket.
    network = (0x20010DB8 << 96) | (secrets.randbits(32) << 64)
    return str(ipaddress.IPv6Address(network | secrets.randbits(64)))


@pytest.fixture
def make_api_client():
    """API clients, each calling from its own random address."""
    return lambda: APIClient(REMOTE_ADDR=random_client_ip())


@pytest.fixture
def api_client(make_api_client) -> APIClient:
    return make_api_client()


@pytest.fixture
def password() -> str:
    return "correct horse battery staple"


@pytest.fixture
def make_account(django_user_model, password):
    """Accounts that sign in with `password`, named like `ann-3f2a…`: unique to the test, so
    the per-username login counters (in a Redis shared by parallel and repeated runs) start at
    0. Named apart from the cast (tests/cast.py), whose usernames are the same in every test;
    tests where nobody signs in by name use the cast."""

    def make(name: str, **extra):
        username = f"{name}-{uuid.uuid4().hex[:12]}"
        return django_user_model.objects.create_user(username=username, password=password, **extra)

    return make


@pytest.fixture
def account(make_account):
    """Someone who signs in with their username and `password`."""
    return make_account("ann")
