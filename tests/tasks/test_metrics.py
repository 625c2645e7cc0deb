"""/metrics shows task counts read from the database, and transition counters."""

from __future__ import annotations

import re

import pytest

from apps.core.actors import Actor
from apps.tasks import services
from tests.builders import create_task

pytestmark = pytest.mark.django_db


def gauge(text: str, status: str) -> float:
    match = re.search(rf'^taskmanage_tasks{{status="{status}"}} (\S+)$', text, re.M)
    assert match, f"no gauge for {status}"
    return float(match.group(1))


def test_metrics_count_tasks_by_status(alice, client, settings,
                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            create_task(by=alice)
        task = create_task(by=alice)
        services.task_transition(task_id=task.pk, action="cancel", by=Actor.for_user(alice))
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]  # the test client's address
    text = client.get("/metrics").content.decode()
    assert gauge(text, "queued") == 3 and gauge(text, "cancelled") == 1
    assert gauge(text, "running") == 0
    assert re.search(r'^taskmanage_task_transitions_total{to_status="cancelled",'
                     r'transition="cancel"} [1-9]', text, re.M)


def test_the_database_gauges_survive_multiprocess_mode(alice, client, settings, monkeypatch,
                                                       tmp_path):
    """Several web workers: metrics come from the shared directory plus the database."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    create_task(by=alice)
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]  # the test client's address
    text = client.get("/metrics").content.decode()
    assert gauge(text, "queued") == 1
