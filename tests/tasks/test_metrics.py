"""/metrics: the tasks' counters and histograms after real actions, and the gauges of the
periodic snapshot, which a scrape reads without touching the database."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.actors import Actor
from apps.tasks import services
from tests.builders import api_client, create_task, make_task_type, task_in_state
from tests.metrics import Metrics, scrape, value

pytestmark = pytest.mark.django_db


def test_tasks_created_through_the_api_count_by_type_and_priority(
        alice, client, settings, django_capture_on_commit_callbacks):
    kind = make_task_type("metrics-review")
    metrics = Metrics(client, settings)
    with django_capture_on_commit_callbacks(execute=True):
        for priority in ("high", "high", "low"):
            response = api_client(alice).post(
                "/api/v1/tasks", {"title": "t", "task_type": kind.key, "priority": priority},
                format="json")
            assert response.status_code == 201, response.content

    assert metrics.added("taskmanage_tasks_created_total",
                         task_type="metrics-review", priority="high") == 2
    assert metrics.added("taskmanage_tasks_created_total",
                         task_type="metrics-review", priority="low") == 1


def test_a_completed_task_counts_and_observes_its_wait_and_run(
        alice, client, settings, django_capture_on_commit_callbacks):
    kind = make_task_type("metrics-done")
    metrics = Metrics(client, settings)
    with django_capture_on_commit_callbacks(execute=True):
        task_in_state("completed", creator=alice, task_type=kind, priority=2)

    assert metrics.added("taskmanage_tasks_completed_total",
                         task_type="metrics-done", priority="high") == 1
    assert metrics.added("taskmanage_task_wait_seconds_count", task_type="metrics-done") == 1
    assert metrics.added("taskmanage_task_run_seconds_count", task_type="metrics-done") == 1
    assert metrics.added("taskmanage_task_transitions_total",
                         transition="complete", to_status="completed") == 1


def test_a_retried_failure_is_a_retry_and_a_final_one_a_dead_letter(
        alice, client, settings, django_capture_on_commit_callbacks):
    retried = make_task_type("metrics-retried", max_retries=3)
    final = make_task_type("metrics-final", max_retries=0)
    metrics = Metrics(client, settings)
    with django_capture_on_commit_callbacks(execute=True):
        for kind in (retried, final):
            task = task_in_state("running", creator=alice, task_type=kind)
            services.task_transition(task_id=task.pk, action="fail", error="boom",
                                     by=Actor.for_user(alice))

    assert metrics.added("taskmanage_task_retries_total", task_type="metrics-retried") == 1
    assert metrics.added("taskmanage_tasks_failed_total",
                         task_type="metrics-retried", priority="normal") == 0
    assert metrics.added("taskmanage_tasks_failed_total",
                         task_type="metrics-final", priority="normal") == 1


def test_the_snapshot_gauges_show_status_queue_depth_and_age(alice, client, settings):
    for priority in (0, 3, 3):
        create_task(by=alice, priority=priority)
    task_in_state("cancelled", creator=alice)

    text = Metrics(client, settings).now(snapshot=True)

    assert value(text, "taskmanage_tasks", status="queued") == 3
    assert value(text, "taskmanage_tasks", status="cancelled") == 1
    assert value(text, "taskmanage_queue_depth", status="queued", priority="critical") == 2
    assert value(text, "taskmanage_queue_depth", status="queued", priority="low") == 1
    assert value(text, "taskmanage_queue_depth", status="running", priority="low") == 0
    # task_in_state backdates nothing here: created now, queued now.
    assert 0 <= value(text, "taskmanage_queue_oldest_age_seconds", priority="critical") < 60
    assert value(text, "taskmanage_queue_oldest_age_seconds", priority="high") == 0
    assert value(text, "taskmanage_metrics_snapshot_age_seconds") < 60


def test_the_gauges_wait_for_the_next_snapshot(alice, client, settings):
    Metrics(client, settings).now(snapshot=True)
    create_task(by=alice)

    text = scrape(client, settings)
    assert value(text, "taskmanage_tasks", status="queued") == 0  # not counted per scrape
    assert value(Metrics(client, settings).now(snapshot=True), "taskmanage_tasks",
                 status="queued") == 1


def test_a_scrape_costs_no_query_however_many_tasks(alice, client, settings):
    def queries_of_a_scrape() -> int:
        with CaptureQueriesContext(connection) as queries:
            scrape(client, settings)
        return len(queries)

    Metrics(client, settings).now(snapshot=True)
    empty = queries_of_a_scrape()
    for _ in range(30):
        create_task(by=alice)
    Metrics(client, settings).now(snapshot=True)

    assert queries_of_a_scrape() == empty == 0


def test_the_snapshot_gauges_survive_multiprocess_mode(alice, client, settings, monkeypatch,
                                                       tmp_path):
    """Several processes: the registry is built from the shared directory plus the snapshot."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    create_task(by=alice)

    text = Metrics(client, settings).now(snapshot=True)
    assert value(text, "taskmanage_tasks", status="queued") == 1


def test_the_tasks_snapshot_counts_open_work_only_and_takes_ended_counts_from_theirs(alice):
    """The snapshot never reads the ended rows (nearly all of a real table): open work is
    counted on the open-status index, the ended states and the dead letters come from the
    ended-counts snapshot the stats share, which only its own sweep recounts."""
    from apps.tasks import selectors
    from apps.tasks.metrics import read_snapshot
    from apps.tasks.states import OPEN_STATES

    kind = make_task_type(max_retries=0)
    for priority in (0, 3, 3):
        create_task(by=alice, task_type=kind, priority=priority)
    task_in_state("running", creator=alice, task_type=kind, priority=2)
    for status in ("completed", "completed", "failed", "cancelled"):
        task_in_state(status, creator=alice, task_type=kind)
    selectors.refresh_ended_counts()  # what the sweep does every STATS_SNAPSHOT_SECONDS

    with CaptureQueriesContext(connection) as queries:
        figures = read_snapshot()

    tasks = {labels[0]: n for labels, n in figures["taskmanage_tasks"]}
    assert {s: tasks[s] for s in ("queued", "running", "completed", "failed", "cancelled",
                                  "rejected", "draft")} == {
        "queued": 3, "running": 1, "completed": 2, "failed": 1, "cancelled": 1, "rejected": 0,
        "draft": 0}
    assert figures["taskmanage_dead_letters"] == [((), 1)]
    depth = dict(figures["taskmanage_queue_depth"])
    assert (depth[("queued", "critical")], depth[("queued", "low")],
            depth[("running", "high")], depth[("running", "low")]) == (2, 1, 1, 0)
    # Two statements, each confined to open work: every open status named, no ended one.
    assert len(queries) == 2
    for sql in (q["sql"] for q in queries.captured_queries):
        where = sql.split(" WHERE ", 1)[1]
        assert "completed" not in where and "failed" not in where
        assert all(f"'{s}'" in where for s in OPEN_STATES) or "= 'queued'" in where

    task_in_state("completed", creator=alice, task_type=kind)
    create_task(by=alice, task_type=kind, priority=0)
    later = {labels[0]: n for labels, n in read_snapshot()["taskmanage_tasks"]}
    assert (later["completed"], later["queued"]) == (2, 4)  # ended: as of the sweep; open: live
    selectors.refresh_ended_counts()
    assert {labels[0]: n for labels, n in read_snapshot()["taskmanage_tasks"]}["completed"] == 3
