"""Units for the execution tests, registered as units register, with their own Redis keys."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from apps.core.actors import Actor
from apps.execution import beats, services
from apps.execution.selectors import forget_accepting
from tests.builders import make_task_type


@pytest.fixture(autouse=True)
def own_heartbeat_keys(settings):
    # Heartbeats live in a real, shared Redis: each test keeps its own keys, so neither a
    # parallel test process nor an earlier run's units are heard here.
    settings.UNITS_KEY_PREFIX = f"tm:test:{uuid.uuid4().hex}:"
    beats.reset_client()
    forget_accepting()  # a per-process cache: no test sees another's task types
    yield
    beats.reset_client()
    forget_accepting()


@pytest.fixture
def docs():
    """The task type the units of these tests serve."""
    return make_task_type("docs", assignee_kind="unit", max_retries=2)


def register(unit_id: str, *, unit_type: str = "docs", capacity: int = 2, **fields):
    """A unit registered through the service; returns (unit, its token)."""
    done = services.unit_register(unit_id=unit_id, by=Actor.system("tests"), may_rotate=True,
                                  unit_type=unit_type, capacity=capacity, **fields)
    return done.unit, done.token


def unit_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
