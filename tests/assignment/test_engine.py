"""The assignment engine on PostgreSQL: pools, records, confirmation, reassignment, leave."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.assignment import services
from apps.assignment.models import Assignment, LeavePolicy, Outcome, Unassignable
from apps.core.actors import Actor
from apps.core.exceptions import Conflict
from apps.staff.models import Availability, Staff
from apps.staff.services import staff_reconcile_load, staff_update
from apps.tasks import services as task_services
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus
from tests.builders import (
    create_task,
    make_leave,
    make_staff,
    make_task_type,
    require,
    task_in_state,
)

S = TaskStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def python_type():
    return require(make_task_type("code-review", strategy="least_loaded"), {"python": 3})


def load_of(staff: Staff) -> int:
    staff.refresh_from_db()
    return staff.load


def test_a_queued_task_goes_to_a_qualified_person_with_a_readable_record(margaret, python_type):
    make_staff("novice", skills={"python": 2})
    ann = make_staff("ann", skills={"python": 4}, seniority=4)
    task = create_task(by=margaret, task_type=python_type)

    result = services.assign_queued()

    task.refresh_from_db()
    assert result.assigned == 1 and task.status == S.ASSIGNED
    assert task.assignee_user == ann.user and load_of(ann) == 1
    record = Assignment.objects.get(task=task)
    assert (record.strategy, record.outcome, record.reason) == ("least_loaded", "accepted", "auto")
    assert record.explanation.startswith("skill python 4 ≥ 3, load 0/3, seniority 4")
    assert "least_loaded" in task.history.last().reason


@pytest.mark.parametrize("who", ["inactive", "on leave", "full", "lacks the level"])
def test_the_pool_leaves_out_who_cannot_take_the_task(margaret, python_type, who):
    person = make_staff("pat", skills={"python": 2 if who == "lacks the level" else 5},
                        capacity=0 if who == "full" else 3)
    if who == "inactive":
        staff_update(staff=person, availability=Availability.INACTIVE)
    if who == "on leave":
        make_leave(person, days_from_now=-1 / 24, days=1)  # began an hour ago
    task = create_task(by=margaret, task_type=python_type)
    assert services.assign_queued().assigned == 0
    task.refresh_from_db()
    assert task.status == S.QUEUED


def test_a_task_nobody_can_take_stays_queued_and_is_counted(margaret):
    kind = require(make_task_type(), {"cobol": 5})
    make_staff("ann", skills={"python": 5})
    task = create_task(by=margaret, task_type=kind)
    assert services.assign_queued().unassignable == 1
    assert services.assign_queued().unassignable == 1  # and again, without spinning or crashing
    task.refresh_from_db()
    assert task.status == S.QUEUED
    assert Unassignable.objects.get(task=task).reason.startswith("no qualified")
    make_staff("old-timer", skills={"cobol": 5})
    assert services.assign_queued().assigned == 1
    assert not Unassignable.objects.exists()


def test_queued_tasks_are_served_by_priority_then_age(margaret, python_type):
    make_staff("ann", skills={"python": 5}, capacity=1)
    older = create_task(by=margaret, task_type=python_type, priority=1)
    urgent = create_task(by=margaret, task_type=python_type, priority=3)
    services.assign_queued()
    urgent.refresh_from_db()
    older.refresh_from_db()
    assert (urgent.status, older.status) == (S.ASSIGNED, S.QUEUED)


def test_capacity_counts_task_type_weights(margaret):
    heavy = make_task_type(capacity_weight=2)
    ann = make_staff("ann", capacity=3)
    for _ in range(2):
        create_task(by=margaret, task_type=heavy)
    assert services.assign_queued().assigned == 1
    assert load_of(ann) == 2


class TestConfirmation:
    @pytest.fixture
    def confirm_type(self):
        return make_task_type(requires_assignment_confirmation=True, confirmation_timeout=60)

    def test_an_unaccepted_assignment_expires_and_goes_to_someone_else(self, margaret,
                                                                       confirm_type):
        ann, ben = make_staff("ann"), make_staff("ben", capacity=2)
        task = create_task(by=margaret, task_type=confirm_type)
        services.assign_queued()
        first = Assignment.objects.get(task=task)
        assert first.outcome == Outcome.PENDING and first.expires_at is not None
        holder = Staff.objects.get(user_id=first.assignee_user_id)

        later = timezone.now() + timedelta(seconds=61)
        assert services.assignments_expire(now=later) == 1
        task.refresh_from_db()
        assert task.status == S.QUEUED and load_of(holder) == 0
        first.refresh_from_db()
        assert first.outcome == Outcome.EXPIRED
        services.assign_queued()
        task.refresh_from_db()
        assert task.assignee_user_id not in (None, first.assignee_user_id)
        assert {ann.user_id, ben.user_id} == {first.assignee_user_id, task.assignee_user_id}

    def test_accepting_in_time_keeps_it(self, margaret, confirm_type):
        ann = make_staff("ann")
        task = create_task(by=margaret, task_type=confirm_type)
        services.assign_queued()
        task_services.task_transition(task_id=task.pk, action="accept",
                                      by=Actor.for_user(ann.user))
        assert Assignment.objects.get(task=task).outcome == Outcome.ACCEPTED
        assert services.assignments_expire(now=timezone.now() + timedelta(hours=1)) == 0

    def test_a_decline_excludes_that_person_for_that_task(self, margaret, confirm_type):
        ann = make_staff("ann")
        task = create_task(by=margaret, task_type=confirm_type)
        services.assign_queued()
        task_services.task_transition(task_id=task.pk, action="decline",
                                      by=Actor.for_user(ann.user))
        assert services.assign_queued().assigned == 0  # ann is the only one, and declined
        ben = make_staff("ben")
        services.assign_queued()
        task.refresh_from_db()
        assert task.assignee_user == ben.user
        assert Assignment.objects.get(task=task, assignee_user=ann.user).outcome == "declined"

    def test_a_declined_task_keeps_its_age(self, margaret, confirm_type):
        ann = make_staff("ann")
        task = create_task(by=margaret, task_type=confirm_type)
        queued_at = task.queued_at
        services.assign_queued()
        task_services.task_transition(task_id=task.pk, action="decline",
                                      by=Actor.for_user(ann.user))
        task.refresh_from_db()
        assert task.queued_at == queued_at


class TestManualReassignment:
    def test_to_a_qualified_target(self, margaret, python_type):
        ann = make_staff("ann", skills={"python": 5})
        ben = make_staff("ben", skills={"python": 3}, capacity=5)
        task = create_task(by=margaret, task_type=python_type)
        services.assign_queued()
        services.task_reassign(task_id=task.pk, by=Actor.for_user(margaret), target=ben.user,
                               reason="ann is swamped")
        task.refresh_from_db()
        assert task.assignee_user == ben.user
        assert (load_of(ann), load_of(ben)) == (0, 1)
        revoked = Assignment.objects.get(task=task, assignee_user=ann.user)
        assert revoked.outcome == Outcome.REVOKED and "ann is swamped" in revoked.outcome_reason
        assert Assignment.objects.get(task=task, outcome="accepted").reason == "manual"

    def test_an_unqualified_target_is_refused_unless_forced(self, margaret, python_type):
        novice = make_staff("novice", skills={"python": 1})
        task = create_task(by=margaret, task_type=python_type)
        with pytest.raises(Conflict):
            services.task_reassign(task_id=task.pk, by=Actor.for_user(margaret), target=novice.user)
        task.refresh_from_db()
        assert task.status == S.QUEUED
        services.task_reassign(task_id=task.pk, by=Actor.for_user(margaret), target=novice.user,
                               force=True)
        task.refresh_from_db()
        assert task.assignee_user == novice.user

    def test_even_forced_it_never_goes_over_capacity(self, margaret, python_type):
        full = make_staff("full", skills={"python": 5}, capacity=0)
        task = create_task(by=margaret, task_type=python_type)
        with pytest.raises(Conflict):
            services.task_reassign(task_id=task.pk, by=Actor.for_user(margaret), target=full.user,
                                   force=True)
        assert load_of(full) == 0

    def test_without_a_target_it_goes_to_someone_other_than_the_holder(
            self, margaret, python_type, django_capture_on_commit_callbacks):
        ann = make_staff("ann", skills={"python": 5})
        ben = make_staff("ben", skills={"python": 4}, capacity=1)
        task = create_task(by=margaret, task_type=python_type)
        services.assign_queued()
        task.refresh_from_db()
        assert task.assignee_user == ann.user
        with django_capture_on_commit_callbacks(execute=True):
            services.task_reassign(task_id=task.pk, by=Actor.for_user(margaret))
        task.refresh_from_db()
        assert task.assignee_user == ben.user


def test_a_starting_leave_hands_back_work_as_the_policy_says(margaret):
    keep_running = make_task_type(leave_policy=LeavePolicy.REASSIGN_NOT_STARTED)
    ann = make_staff("ann", capacity=5)
    started, waiting = (create_task(by=margaret, task_type=keep_running) for _ in range(2))
    services.assign_queued()
    task_services.task_transition(task_id=started.pk, action="start", by=Actor.for_user(ann.user))
    make_leave(ann, days_from_now=-1 / 1440, days=3, reason="holiday")  # began a minute ago

    assert services.leaves_start() == 1
    assert services.leaves_start() == 0  # once per leave
    started.refresh_from_db()
    waiting.refresh_from_db()
    assert (started.status, waiting.status) == (S.RUNNING, S.QUEUED)
    assert waiting.history.last().reason.startswith("leave: ann is on leave")
    assert load_of(ann) == 1


def test_a_running_task_past_its_timeout_is_requeued(margaret):
    kind = make_task_type(timeout=60)
    ann = make_staff("ann")
    task = create_task(by=margaret, task_type=kind)
    services.assign_queued()
    task_services.task_transition(task_id=task.pk, action="start", by=Actor.for_user(ann.user))
    assert services.tasks_requeue_timed_out() == 0
    assert services.tasks_requeue_timed_out(now=timezone.now() + timedelta(seconds=61)) == 1
    task.refresh_from_db()
    assert task.status == S.QUEUED and task.history.last().reason.startswith("timeout")


def test_the_dry_run_ranks_without_assigning(margaret, python_type):
    ann = make_staff("ann", skills={"python": 5}, capacity=4)
    make_staff("ben", skills={"python": 3})
    for _ in range(2):  # ann holds two tasks
        task_in_state(S.ASSIGNED, creator=margaret, assignee=ann.user)
    task = create_task(by=margaret, task_type=python_type)
    ranked = services.task_candidates(task=task)
    assert [s.candidate.name for s in ranked] == ["ben", "ann"]
    assert "load 2/4" in ranked[1].explanation
    task.refresh_from_db()
    assert task.status == S.QUEUED and not Assignment.objects.exists()


class TestStarvation:
    def test_a_waiting_task_is_offered_to_a_wider_pool_step_by_step(self, margaret):
        kind = require(make_task_type(skill_timeout=60), {"python": 4})
        make_staff("near-miss", skills={"python": 3})
        task = create_task(by=margaret, task_type=kind)
        assert services.assign_queued().assigned == 0
        Task.objects.filter(pk=task.pk).update(queued_at=timezone.now() - timedelta(seconds=61))
        assert services.assign_queued().assigned == 1

    def test_any_holder_of_the_skill_then_the_overflow_assignee_as_last_resort(self, margaret):
        overflow = make_staff("overflow")
        kind = require(make_task_type(skill_timeout=60, overflow_assignee=overflow.user),
                       {"python": 5})
        make_staff("beginner", skills={"python": 1}, capacity=1)
        oldest, old, recent = (create_task(by=margaret, task_type=kind) for _ in range(3))
        for task, waited in ((oldest, 300), (old, 200), (recent, 130)):
            Task.objects.filter(pk=task.pk).update(
                queued_at=timezone.now() - timedelta(seconds=waited))
        services.assign_queued()
        for task in (oldest, old, recent):
            task.refresh_from_db()
        # The oldest takes the only holder of the skill; the next, past three timeouts, goes
        # to the overflow assignee; the recent one (two timeouts) has nobody yet.
        assert oldest.assignee_user.username == "beginner"
        assert old.assignee_user == overflow.user
        assert Assignment.objects.get(task=old).reason == "overflow"
        assert recent.status == S.QUEUED


def test_work_meant_for_someone_on_leave_goes_to_their_substitute(margaret):
    kind = make_task_type(strategy="failover", strategy_params={"order": ["ann", "ben", "cat"]})
    ann, cat = make_staff("ann"), make_staff("cat")
    make_staff("ben")
    make_leave(ann, days_from_now=-1 / 24, days=1, substitute=cat)  # began an hour ago
    task = create_task(by=margaret, task_type=kind)
    services.assign_queued()
    task.refresh_from_db()
    assert task.assignee_user == cat.user  # ann's turn, taken by her substitute, not ben
    record = Assignment.objects.get(task=task)
    assert (record.reason, record.delegated_from) == ("delegation", ann.user)
    assert "substitute for ann (on leave)" in task.history.last().reason


def test_optimal_batch_beats_greedy_skill_match_on_total_score(margaret):
    """Two people with room for one task each; greedy gives the first task the best person
    and leaves the second with nobody qualified; the solver finds the better pairing."""
    def scenario(strategy):
        Task.objects.all().delete()
        Staff.objects.all().delete()
        py_only = require(make_task_type(strategy=strategy), {"python": 3})
        py_sql = require(make_task_type(strategy=strategy), {"python": 3, "sql": 3})
        make_staff(f"all-round-{strategy}", skills={"python": 5, "sql": 5}, capacity=1)
        make_staff(f"pythonist-{strategy}", skills={"python": 4}, capacity=1)
        create_task(by=margaret, task_type=py_only)  # older: served first by greedy
        create_task(by=margaret, task_type=py_sql)
        services.assign_queued()
        return sum(Assignment.objects.values_list("score", flat=True))

    greedy, optimal = scenario("skill_match"), scenario("optimal_batch")
    assert optimal > greedy
    assert (round(greedy, 3), round(optimal, 3)) == (1.0, 1.8)


def test_reconciling_fixes_a_load_that_drifted(margaret):
    ann = make_staff("ann")
    create_task(by=margaret)
    services.assign_queued()
    Staff.objects.filter(pk=ann.pk).update(load=7)  # a drift no service leaves: the sweep's case
    assert staff_reconcile_load() == 1
    assert load_of(ann) == 1


def test_failover_with_nobody_listed_present_leaves_the_task_queued(margaret):
    kind = make_task_type(strategy="failover", strategy_params={"order": ["ghost"]})
    make_staff("ann")
    task = create_task(by=margaret, task_type=kind)
    result = services.assign_queued()
    task.refresh_from_db()
    assert (result.assigned, task.status) == (0, S.QUEUED)


def test_round_robin_takes_turns_across_runs(margaret):
    kind = make_task_type(strategy="round_robin")
    for name in ("ann", "ben", "cat"):
        make_staff(name)
    got = []
    for _ in range(4):
        task = create_task(by=margaret, task_type=kind)
        services.assign_queued()
        task.refresh_from_db()
        got.append(task.assignee_user.username)
    assert got == ["ann", "ben", "cat", "ann"]


def test_a_dispatch_message_for_queued_staff_work_runs_the_engine(margaret):
    """The path a new task takes: tasks.queued → Celery dispatch_tasks → the staff dispatcher
    this app registers → assign_queued, for just those tasks."""
    from apps.tasks.tasks import dispatch_tasks

    ann = make_staff("ann")
    task = create_task(by=margaret)
    assert dispatch_tasks([str(task.pk)]) == 1
    task.refresh_from_db()
    assert task.assignee_user == ann.user
