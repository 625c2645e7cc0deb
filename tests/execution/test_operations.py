"""Units from the terminal and in stats; dead letters replayed."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.execution.models import ExecutionUnit
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus as S
from tests.builders import api_client, make_task_type, task_in_state
from tests.execution.conftest import register, unit_client

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_units_are_listed_and_drained_from_the_terminal(docs):
    register("worker-001", capacity=4)
    register("worker-002", unit_type="video")

    listing = run("units", "list", "--type", "docs")
    drained = run("units", "drain", "worker-001")

    assert listing.startswith("worker-001\tdocs\tonline\t0/4\tlast heartbeat never")
    assert "worker-002" not in listing
    assert drained.strip() == "worker-001: draining"
    assert ExecutionUnit.objects.get(unit_id="worker-001").status == "draining"


def test_worker_stats_count_units_and_heartbeats_for_managers_only(margaret, alice, docs):
    _, token = register("worker-001", capacity=4)
    register("worker-002", capacity=2)
    unit_client(token).post("/api/v1/execution-units/worker-001/heartbeat", {})

    stats = api_client(margaret).get("/api/v1/stats/workers")

    assert stats.status_code == 200
    assert stats.json()["units"] == [{"unit_type": "docs", "status": "online", "units": 2,
                                      "held": 0, "capacity": 6, "reported_load": 0}]
    assert len(stats.json()["heartbeats_last_minutes"]) == 5
    assert api_client(alice).get("/api/v1/stats/workers").status_code == 403
    assert unit_client(token).get("/api/v1/stats/workers").status_code == 403


def test_dead_letters_of_a_type_since_a_time_are_replayed(olga):
    docs, video = make_task_type("docs", max_retries=0), make_task_type("video", max_retries=0)
    recent = task_in_state(S.FAILED, creator=olga, task_type=docs)
    old = task_in_state(S.FAILED, creator=olga, task_type=docs)
    Task.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=2))
    other = task_in_state(S.FAILED, creator=olga, task_type=video)
    since = (timezone.now() - timedelta(days=1)).isoformat()

    out = run("replay_dead", "--type", "docs", "--since", since)

    assert out.strip() == "replayed: 1"
    statuses = dict(Task.objects.values_list("pk", "status"))
    assert (statuses[recent.pk], statuses[old.pk], statuses[other.pk]) == (
        S.QUEUED, S.FAILED, S.FAILED)
    assert Task.objects.get(pk=recent.pk).history.last().reason == "dead letter replay"
