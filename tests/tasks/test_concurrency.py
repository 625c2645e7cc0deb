"""Concurrent actors on real PostgreSQL connections (threads, one connection each)."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.core.actors import Actor
from apps.core.exceptions import Conflict
from apps.tasks import services
from apps.tasks.models import Task, TaskHistory
from apps.tasks.states import TaskStatus
from tests.builders import history_since_built, make_task_type, task_in_state
from tests.concurrency import race

S = TaskStatus
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def test_two_concurrent_cancels_one_wins_the_other_conflicts(alice):
    task = task_in_state(S.RUNNING, creator=alice)

    outcomes = race(2, lambda i: services.task_transition(
        task_id=task.pk, action="cancel", by=Actor.system(f"canceller-{i}")))

    assert sum(isinstance(o, Task) for o in outcomes) == 1
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1
    assert TaskHistory.objects.filter(task=task, transition="cancel").count() == 1


def test_many_workers_starting_one_task_start_it_once(alice):
    task = task_in_state(S.ASSIGNED, creator=alice)

    outcomes = race(8, lambda i: services.task_transition(
        task_id=task.pk, action="start", by=Actor.system(f"worker-{i}")))

    assert sum(isinstance(o, Task) for o in outcomes) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if not isinstance(o, Task))
    task.refresh_from_db()
    assert (task.status, task.attempts) == (S.RUNNING, 1)


def test_racing_transitions_are_serialised_not_lost(alice):
    """pause and complete at once: whichever runs second sees the first one's result."""
    task = task_in_state(S.RUNNING, creator=alice)
    actions = ["pause", "complete"]

    outcomes = race(2, lambda i: services.task_transition(
        task_id=task.pk, action=actions[i], by=Actor.system()))

    task.refresh_from_db()
    rows = list(history_since_built(task).order_by("id"))
    # Every success is in the history, chained: each row starts where the previous ended.
    assert len(rows) == sum(isinstance(o, Task) for o in outcomes)
    assert rows[0].from_status == S.RUNNING
    for before, after in zip(rows, rows[1:], strict=False):
        assert after.from_status == before.to_status
    assert task.status == rows[-1].to_status


def test_the_same_idempotency_key_sent_concurrently_creates_one_task(alice):
    kind = make_task_type()

    def create(i):
        spec = services.TaskSpec(title="once", task_type=kind, idempotency_key="k-1")
        return services.task_create(spec=spec, by=Actor.for_user(alice))

    outcomes = race(6, create)

    assert not [o for o in outcomes if isinstance(o, Exception)]
    assert len({task.pk for task, _ in outcomes}) == 1
    assert sum(created for _, created in outcomes) == 1
    assert Task.objects.filter(idempotency_key="k-1").count() == 1


def test_concurrent_sweeps_promote_each_due_task_once(alice):
    from datetime import timedelta

    from django.utils import timezone

    due = [task_in_state(S.SCHEDULED, creator=alice, run_at=timezone.now() - timedelta(1))
           for _ in range(30)]

    outcomes = race(3, lambda i: services.tasks_promote_due())

    assert sum(outcomes) == 30
    assert TaskHistory.objects.filter(task__in=due, transition="promote").count() == 30
