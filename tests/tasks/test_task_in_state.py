"""The builder other tests trust: task_in_state reaches each status through the life cycle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.tasks.states import HELD_STATES, TaskStatus
from tests.builders import history_since_built, make_task_type, task_in_state

S = TaskStatus
pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("status", list(S))
def test_each_status_is_reached_step_by_step_with_its_history_and_load(alice, status):
    task = task_in_state(status, creator=alice)

    assert task.status == status
    rows = list(task.history.order_by("id"))
    assert rows[0].transition == "create"
    for before, after in zip(rows, rows[1:], strict=False):
        assert after.from_status == before.to_status  # one chain, no step skipped
    assert rows[-1].to_status == status
    assert not history_since_built(task).exists()
    alice.staff.refresh_from_db()
    held = task.task_type.capacity_weight if status in HELD_STATES else 0
    assert alice.staff.load == held


def test_attempts_progress_and_error_are_spent_the_way_the_life_cycle_spends_them(alice):
    task = task_in_state(S.FAILED, creator=alice, attempts=3, progress=40, error="boom")
    assert (task.attempts, task.progress, task.error) == (3, 40, "boom")
    assert task.history.filter(transition="start").count() == 3


def test_a_due_scheduled_task_is_scheduled_then_its_run_at_has_come(alice):
    past = timezone.now() - timedelta(minutes=1)
    task = task_in_state(S.SCHEDULED, creator=alice, run_at=past)
    assert (task.status, task.run_at) == (S.SCHEDULED, past)


def test_a_status_the_type_or_the_description_cannot_reach_is_refused(alice):
    with pytest.raises(ValueError, match="creation approval"):
        task_in_state(S.PENDING_APPROVAL, creator=alice, task_type=make_task_type())
    with pytest.raises(ValueError, match="left it scheduled"):
        task_in_state(S.QUEUED, creator=alice, run_at=timezone.now() + timedelta(hours=1))
