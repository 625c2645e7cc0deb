"""Every transition of the life cycle (docs/product.md), allowed or not, through the service."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.exceptions import Conflict
from apps.tasks import services
from apps.tasks.models import Task
from apps.tasks.states import OPEN_STATES, TaskStatus
from tests.builders import (
    create_task,
    history_since_built,
    insert_task_row,
    make_task_type,
    task_in_state,
)

S = TaskStatus
pytestmark = pytest.mark.django_db

# (action, from) -> to, for a plain task type (no approvals, no dependencies, no run_at).
ALLOWED = {
    ("submit", S.DRAFT): S.QUEUED,
    ("submit", S.RUNNING): S.IN_REVIEW,
    ("approve", S.PENDING_APPROVAL): S.QUEUED,
    ("approve", S.IN_REVIEW): S.COMPLETED,
    ("reject", S.PENDING_APPROVAL): S.REJECTED,
    ("reject", S.IN_REVIEW): S.RUNNING,
    ("release", S.BLOCKED): S.QUEUED,
    ("promote", S.SCHEDULED): S.QUEUED,
    ("accept", S.ASSIGNED): S.RUNNING,
    ("start", S.ASSIGNED): S.RUNNING,
    ("decline", S.ASSIGNED): S.QUEUED,
    ("expire", S.ASSIGNED): S.QUEUED,
    ("pause", S.RUNNING): S.PAUSED,
    ("resume", S.PAUSED): S.RUNNING,
    ("complete", S.RUNNING): S.COMPLETED,
    ("fail", S.ASSIGNED): S.SCHEDULED,
    ("fail", S.RUNNING): S.SCHEDULED,
    ("retry", S.FAILED): S.QUEUED,
    ("retry", S.CANCELLED): S.QUEUED,
    **{(a, s): S.QUEUED for a in ("requeue", "reassign")
       for s in (S.ASSIGNED, S.RUNNING, S.PAUSED)},
    **{("cancel", s): S.CANCELLED for s in OPEN_STATES},
}
ACTIONS_WITHOUT_ARGS = sorted(set(services.ACTIONS) - {"assign"})


def plain_task_in(status: str, *, creator) -> Task:
    """A task in `status` as ALLOWED assumes it: no dependency, no run_at still to come."""
    if status == S.BLOCKED:
        # Blocked with nothing left open: no service leaves a task so (the last dependency's
        # completion releases it in the same transaction), but `release` is for that case.
        return insert_task_row(S.BLOCKED, creator=creator)
    return task_in_state(status, creator=creator)


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", ACTIONS_WITHOUT_ARGS)
def test_each_action_from_each_status_moves_or_conflicts(alice, action, status):
    task = plain_task_in(status, creator=alice)
    expected = ALLOWED.get((action, status))

    if expected is None:
        with pytest.raises(Conflict) as err:
            services.task_transition(task_id=task.pk, action=action, by=Actor.for_user(alice))
        assert err.value.current == status
        assert action not in err.value.allowed
        task.refresh_from_db()
        assert task.status == status
        assert not history_since_built(task).exists()
        return

    services.task_transition(task_id=task.pk, action=action, by=Actor.for_user(alice),
                             reason="because")
    task.refresh_from_db()
    assert task.status == expected
    row = history_since_built(task).get()
    assert (row.from_status, row.to_status, row.actor_user, row.reason) == (
        status, expected, alice, "because")


@pytest.mark.parametrize("status", [s for s in S if s != S.QUEUED])
def test_assign_is_only_possible_from_queued(alice, status):
    task = task_in_state(status, creator=alice)
    with pytest.raises(Conflict):
        services.task_assign(task_id=task.pk, user=alice, by=Actor.system())


def test_assign_sets_the_assignee_and_allowed_lists_what_follows(alice, bob):
    task = task_in_state(S.QUEUED, creator=alice)
    services.task_assign(task_id=task.pk, user=bob, by=Actor.system("assigner"))
    task.refresh_from_db()
    assert (task.status, task.assignee_user) == (S.ASSIGNED, bob)
    assert services.allowed_actions(task=task) == sorted(
        ["accept", "start", "decline", "expire", "fail", "requeue", "reassign", "cancel"])


def test_conflict_lists_the_allowed_transitions(alice):
    task = task_in_state(S.COMPLETED, creator=alice)
    with pytest.raises(Conflict) as err:
        services.task_transition(task_id=task.pk, action="pause", by=Actor.for_user(alice))
    assert err.value.allowed == []
    task = task_in_state(S.PAUSED, creator=alice)
    with pytest.raises(Conflict) as err:
        services.task_transition(task_id=task.pk, action="pause", by=Actor.for_user(alice))
    assert err.value.allowed == ["cancel", "reassign", "requeue", "resume"]


class TestWhereASubmittedTaskGoes:
    def test_a_type_needing_approval_waits_for_it(self, alice):
        kind = make_task_type(requires_creation_approval=True)
        task = create_task(by=alice, task_type=kind)
        assert task.status == S.PENDING_APPROVAL

    def test_an_open_dependency_blocks_it(self, alice):
        first = create_task(by=alice)
        second = create_task(by=alice, depends_on=[first.pk])
        assert second.status == S.BLOCKED

    def test_a_completed_dependency_does_not_block(self, alice):
        done = task_in_state(S.COMPLETED, creator=alice)
        task = create_task(by=alice, depends_on=[done.pk])
        assert task.status == S.QUEUED

    def test_a_future_run_at_schedules_it(self, alice):
        task = create_task(by=alice, run_at=timezone.now() + timedelta(hours=1))
        assert task.status == S.SCHEDULED

    def test_a_draft_waits_for_submit_then_follows_the_same_rules(self, alice):
        task = create_task(by=alice, draft=True, run_at=timezone.now() + timedelta(hours=1))
        assert task.status == S.DRAFT
        services.task_transition(task_id=task.pk, action="submit", by=Actor.for_user(alice))
        task.refresh_from_db()
        assert task.status == S.SCHEDULED

    def test_approval_sends_it_on_to_blocked_when_a_dependency_is_open(self, alice):
        first = create_task(by=alice)
        kind = make_task_type(requires_creation_approval=True)
        task = create_task(by=alice, task_type=kind, depends_on=[first.pk])
        services.task_transition(task_id=task.pk, action="approve", by=Actor.system())
        task.refresh_from_db()
        assert task.status == S.BLOCKED


class TestFailureAndRetry:
    def test_failure_with_retries_left_schedules_a_retry_after_backoff(self, alice):
        kind = make_task_type(max_retries=2, retry_backoff=10, retry_backoff_max=100)
        task = task_in_state(S.RUNNING, creator=alice, task_type=kind, attempts=2)
        before = timezone.now()
        services.task_transition(task_id=task.pk, action="fail", by=Actor.for_user(alice),
                                 error="boom")
        task.refresh_from_db()
        assert task.status == S.SCHEDULED
        assert task.assignee_user is None and task.error == "boom"
        # second attempt failed: 10 s doubled once
        assert before + timedelta(seconds=19) < task.run_at <= timezone.now() + timedelta(
            seconds=20)

    def test_failure_with_retries_exhausted_is_a_dead_letter(self, alice):
        kind = make_task_type(max_retries=1)
        task = task_in_state(S.RUNNING, creator=alice, task_type=kind, attempts=2)
        services.task_transition(task_id=task.pk, action="fail", by=Actor.for_user(alice))
        task.refresh_from_db()
        assert task.status == S.FAILED and task.finished_at is not None

    def test_a_failure_before_starting_still_spends_an_attempt(self, alice):
        kind = make_task_type(max_retries=0)
        task = task_in_state(S.ASSIGNED, creator=alice, task_type=kind)
        services.task_transition(task_id=task.pk, action="fail", by=Actor.for_user(alice))
        task.refresh_from_db()
        assert (task.status, task.attempts) == (S.FAILED, 1)

    def test_backoff_is_capped(self):
        kind = make_task_type(retry_backoff=30, retry_backoff_max=100)
        assert [kind.backoff_for(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 100, 100]

    def test_a_task_cancelled_before_approval_cannot_skip_it_by_retry(self, alice):
        task = task_in_state(S.PENDING_APPROVAL, creator=alice)
        services.task_transition(task_id=task.pk, action="cancel", by=Actor.for_user(alice))
        with pytest.raises(Conflict):
            services.task_transition(task_id=task.pk, action="retry", by=Actor.for_user(alice))

    def test_retry_clears_the_last_attempts_outcome(self, alice):
        task = task_in_state(S.FAILED, creator=alice, error="boom", progress=40, attempts=3)
        assert (task.error, task.progress, task.attempts) == ("boom", 40, 3)
        services.task_transition(task_id=task.pk, action="retry", by=Actor.for_user(alice))
        task.refresh_from_db()
        assert (task.status, task.error, task.progress, task.attempts) == (S.QUEUED, "", 0, 3)


def test_start_counts_an_attempt(alice):
    task = task_in_state(S.ASSIGNED, creator=alice)
    services.task_transition(task_id=task.pk, action="start", by=Actor.for_user(alice))
    task.refresh_from_db()
    assert task.attempts == 1 and task.started_at is not None


def test_a_declined_task_keeps_its_place_in_the_queue(alice):
    task = create_task(by=alice)
    first_queued = task.queued_at
    services.task_assign(task_id=task.pk, user=alice, by=Actor.system())
    services.task_transition(task_id=task.pk, action="decline", by=Actor.for_user(alice))
    task.refresh_from_db()
    assert task.status == S.QUEUED and task.queued_at == first_queued


def test_completion_sends_a_task_needing_approval_to_review(alice):
    kind = make_task_type(requires_completion_approval=True)
    task = task_in_state(S.RUNNING, creator=alice, task_type=kind)
    services.task_complete(task_id=task.pk, result={"ok": 1}, by=Actor.for_user(alice))
    task.refresh_from_db()
    assert (task.status, task.result) == (S.IN_REVIEW, {"ok": 1})


def test_completing_the_last_dependency_releases_the_dependent(alice):
    first = task_in_state(S.RUNNING, creator=alice)
    second = task_in_state(S.RUNNING, creator=alice)
    dependent = create_task(by=alice, depends_on=[first.pk, second.pk])
    services.task_complete(task_id=first.pk, by=Actor.for_user(alice))
    dependent.refresh_from_db()
    assert dependent.status == S.BLOCKED
    services.task_complete(task_id=second.pk, by=Actor.for_user(alice))
    dependent.refresh_from_db()
    assert dependent.status == S.QUEUED
    assert dependent.history.last().reason == f"dependency {second.pk} completed"


def test_progress_is_taken_only_while_running(alice):
    running = task_in_state(S.RUNNING, creator=alice)
    services.task_report_progress(task=running, progress=42, by=Actor.for_user(alice))
    running.refresh_from_db()
    assert running.progress == 42
    paused = task_in_state(S.PAUSED, creator=alice)
    with pytest.raises(Conflict):
        services.task_report_progress(task=paused, progress=42, by=Actor.for_user(alice))
    paused.refresh_from_db()
    assert paused.progress == 0


def test_editing_a_finished_task_is_refused(alice):
    task = task_in_state(S.COMPLETED, creator=alice)
    with pytest.raises(Conflict):
        services.task_update(task_id=task.pk, changes={"title": "new"}, by=Actor.for_user(alice))
