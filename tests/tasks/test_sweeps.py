"""PostgreSQL decides what is pending: sweeps re-drive whatever a lost message left behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.outbox import celery_messages
from apps.tasks import tasks as celery_tasks
from apps.tasks.dispatch import register_dispatcher
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus
from tests.builders import create_task, history_since_built, make_task_type, task_in_state

S = TaskStatus
pytestmark = pytest.mark.django_db


def test_due_scheduled_tasks_are_promoted_and_future_ones_wait(alice):
    due = task_in_state(S.SCHEDULED, creator=alice, run_at=timezone.now() - timedelta(seconds=1))
    later = task_in_state(S.SCHEDULED, creator=alice)
    assert celery_tasks.promote_due_tasks() == 1
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, later.status) == (S.QUEUED, S.SCHEDULED)
    assert history_since_built(due).get().reason == "run_at reached"


def test_blocked_tasks_whose_dependencies_are_done_are_released(alice):
    dep = create_task(by=alice)
    waiting = create_task(by=alice, depends_on=[dep.pk])
    still_waiting = create_task(by=alice, depends_on=[dep.pk, create_task(by=alice).pk])
    # The dependency completed but the release was lost (say, the process died).
    Task.objects.filter(pk__in=[dep.pk, still_waiting.depends_on.last().pk]).update(
        status=S.COMPLETED)
    Task.objects.filter(pk=still_waiting.depends_on.first().pk).update(status=S.QUEUED)
    assert celery_tasks.release_unblocked_tasks() == 1
    waiting.refresh_from_db()
    still_waiting.refresh_from_db()
    assert (waiting.status, still_waiting.status) == (S.QUEUED, S.BLOCKED)


def test_queued_work_is_announced_again_and_reaches_its_dispatcher(
    alice, monkeypatch, django_capture_on_commit_callbacks
):
    seen = []
    monkeypatch.setattr("apps.tasks.dispatch._dispatchers", {})
    register_dispatcher("staff", seen.extend)
    old = create_task(by=alice)
    Task.objects.filter(pk=old.pk).update(queued_at=timezone.now() - timedelta(minutes=5))
    create_task(by=alice)  # fresh: its own message is still expected
    sent = []
    monkeypatch.setattr(celery_tasks.dispatch_tasks, "delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        assert celery_tasks.redrive_queued_tasks() == 1
    assert celery_messages.flush(timeout=5)
    assert sent == [[str(old.pk)]]
    assert celery_tasks.dispatch_tasks(sent[0]) == 1
    assert seen == [str(old.pk)]


def test_tasks_are_dispatched_after_commit_not_before(alice, django_capture_on_commit_callbacks,
                                                      monkeypatch):
    sent = []
    monkeypatch.setattr(celery_tasks.dispatch_tasks, "delay", lambda ids: sent.append(ids))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        task = create_task(by=alice)
        assert sent == []
    for callback in callbacks:
        callback()
    assert celery_messages.flush(timeout=5)
    assert sent == [[str(task.pk)]]


def test_queued_work_of_a_kind_nobody_dispatches_sends_no_message(
    alice, django_capture_on_commit_callbacks, monkeypatch
):
    # Execution units claim their work: a dispatch message for it would find no dispatcher.
    sent = []
    monkeypatch.setattr(celery_tasks.dispatch_tasks, "delay", lambda ids: sent.append(ids))
    units = make_task_type(assignee_kind="unit")
    with django_capture_on_commit_callbacks(execute=True):
        create_task(by=alice, task_type=units)
        staff_task = create_task(by=alice)
    assert celery_messages.flush(timeout=5)
    assert sent == [[str(staff_task.pk)]]
