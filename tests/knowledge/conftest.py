"""The knowledge base's fixtures: its task type, documents added through the service, and
units that claim their processing as units do."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from apps.core.actors import Actor
from apps.execution import beats
from apps.execution import services as unit_services
from apps.execution.selectors import forget_accepting
from apps.knowledge.models import Document
from apps.knowledge.services import document_add
from tests.builders import make_task_type

DOCUMENTS = Path(__file__).resolve().parents[2] / "apps" / "demo" / "documents"


@pytest.fixture(autouse=True)
def own_heartbeat_keys(settings):
    # Heartbeats live in a real, shared Redis: each test keeps its own keys.
    settings.UNITS_KEY_PREFIX = f"tm:test:{uuid.uuid4().hex}:"
    beats.reset_client()
    forget_accepting()
    yield
    beats.reset_client()
    forget_accepting()


@pytest.fixture
def processing():
    """The task type documents are processed under (KNOWLEDGE_TASK_TYPE's default)."""
    return make_task_type("document_processing", assignee_kind="unit", max_retries=2)


def add(user, content: bytes = b"Units claim tasks under a lease.", *, name="notes.txt",
        content_type="text/plain", reference="kb-1", chunk_size=200, chunk_overlap=20
        ) -> Document:
    return document_add(name=name, content=content, content_type=content_type,
                        reference=reference, chunk_size=chunk_size,
                        chunk_overlap=chunk_overlap, by=Actor.for_user(user))


def register(unit_id: str, *, unit_type: str = "document_processing"):
    """A unit registered through the service; returns (unit, its token)."""
    done = unit_services.unit_register(unit_id=unit_id, by=Actor.system("tests"),
                                       may_rotate=True, unit_type=unit_type, capacity=4)
    return done.unit, done.token


def unit_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def claim(token: str, unit_id: str) -> list[dict]:
    response = unit_client(token).post(f"/api/v1/execution-units/{unit_id}/claim", {"max": 4})
    assert response.status_code == 200, response.content
    return response.json()["tasks"]
