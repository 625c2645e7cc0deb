"""An idle system is quiet; a busy one says what it did, once per sweep."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from celery import beat
from celery.app import trace
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.tasks import tasks as task_sweeps
from apps.tasks.states import AssigneeKind, TaskStatus
from tests.builders import make_task_type, task_in_state

pytestmark = pytest.mark.django_db

# Snapshots are not sweeps: they always have figures to take, and say so at DEBUG their way.
SNAPSHOTS = {"apps.ops.tasks.snapshot_metrics", "apps.stats.tasks.refresh_ended_counts",
             "apps.dashboard.tasks.refresh_dashboard_figures"}
PERIODIC = sorted({entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()})
SWEEPS = [name for name in PERIODIC if name not in SNAPSHOTS]


def info_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]


def test_sweeps_with_nothing_to_do_log_nothing_at_info(caplog) -> None:
    caplog.set_level(logging.DEBUG)

    for name in PERIODIC:
        import_string(name)()

    assert info_lines(caplog) == []
    assert len([r for r in caplog.records if r.getMessage().startswith("sweep: 0 ")]) == len(
        SWEEPS)  # each still says so at DEBUG


def test_a_sweep_that_moved_tasks_says_so_in_one_info_line(alice, caplog) -> None:
    for _ in range(2):
        task_in_state(TaskStatus.SCHEDULED, creator=alice,
                      run_at=timezone.now() - timedelta(seconds=1))
    caplog.set_level(logging.INFO)

    task_sweeps.promote_due_tasks()

    assert info_lines(caplog) == ["sweep: 2 due task(s) queued"]


def test_work_nobody_can_take_is_announced_again_quietly(alice, caplog) -> None:
    unit_kind = make_task_type(assignee_kind=AssigneeKind.UNIT)  # units claim: no dispatcher
    waiting = task_in_state(TaskStatus.QUEUED, creator=alice, task_type=unit_kind)
    caplog.set_level(logging.INFO)

    assert task_sweeps.redrive_queued_tasks() == 1
    assert task_sweeps.dispatch_tasks([str(waiting.pk)]) == 0

    assert info_lines(caplog) == []


def celery_lines_about(task_name: str) -> None:
    """What beat, the worker and the tracer log when a task is sent, received and has run."""
    context = {"id": "0f0f", "name": task_name, "args": "()", "kwargs": "{}",
               "return_value": "0", "runtime": 0.01}
    beat.info("Scheduler: Sending due task %s (%s)", "a-schedule", task_name)
    logging.getLogger("celery.worker.strategy").info(
        trace.LOG_RECEIVED, context, extra={"data": context})
    trace.info(trace.LOG_SUCCESS, context)


def test_celery_lines_about_sweeps_are_debug_and_about_other_tasks_stay_info(caplog) -> None:
    caplog.set_level(logging.INFO)

    celery_lines_about("apps.tasks.tasks.promote_due_tasks")
    assert info_lines(caplog) == []

    celery_lines_about("apps.reports.tasks.send_weekly_report")  # not a sweep
    assert len(info_lines(caplog)) == 3


def test_celery_lines_about_sweeps_still_show_when_debugging(caplog) -> None:
    caplog.set_level(logging.DEBUG)

    celery_lines_about("apps.assignment.tasks.assign_queued_tasks")

    assert [r.levelname for r in caplog.records] == ["DEBUG"] * 3
