"""/metrics: heartbeats, leases taken back and units by type and status, after real unit
traffic (the API as a unit calls it, the units sweep)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from apps.execution import services
from tests.builders import create_task
from tests.execution.conftest import register, unit_client
from tests.metrics import Metrics, value

pytestmark = pytest.mark.django_db


def claim(token: str, unit_id: str) -> list[dict]:
    response = unit_client(token).post(f"/api/v1/execution-units/{unit_id}/claim", {"max": 1})
    assert response.status_code == 200, response.content
    return response.json()["tasks"]


def test_heartbeats_count_by_unit_type(docs, client, settings):
    _, token = register("worker-001")
    metrics = Metrics(client, settings)

    for _ in range(2):
        response = unit_client(token).post("/api/v1/execution-units/worker-001/heartbeat",
                                           {"current_load": 0}, format="json")
        assert response.status_code == 200, response.content

    assert metrics.added("taskmanage_unit_heartbeats_total", unit_type="docs") == 2


def test_an_expired_lease_counts_for_its_task_type(olga, docs, client, settings,
                                                    django_capture_on_commit_callbacks):
    create_task(by=olga, task_type=docs)
    _, token = register("worker-001", heartbeat_timeout=3600)
    claim(token, "worker-001")
    metrics = Metrics(client, settings)

    with django_capture_on_commit_callbacks(execute=True):
        services.units_sweep(now=timezone.now() + timedelta(
            seconds=django_settings.UNIT_LEASE_SECONDS + 1))

    assert metrics.added("taskmanage_leases_expired_total", task_type="docs") == 1
    assert metrics.added("taskmanage_unit_tasks_taken_back_total", cause="lease_expired") == 1
    assert metrics.added("taskmanage_unit_tasks_taken_back_total", cause="unit_offline") == 0


def test_units_online_by_type_with_their_held_work_from_the_snapshot(olga, docs, client,
                                                                      settings):
    create_task(by=olga, task_type=docs)
    _, token = register("worker-001", capacity=3)
    register("worker-002", capacity=2)
    register("ocr-001", unit_type="ocr", capacity=1)
    claim(token, "worker-001")

    text = Metrics(client, settings).now(snapshot=True)

    assert value(text, "taskmanage_units", unit_type="docs", status="online") == 2
    assert value(text, "taskmanage_units", unit_type="ocr", status="online") == 1
    assert value(text, "taskmanage_unit_capacity", unit_type="docs", status="online") == 5
    assert value(text, "taskmanage_unit_held", unit_type="docs", status="online") == 1
    assert value(text, "taskmanage_unit_held", unit_type="ocr", status="online") == 0
