"""Exclusions belong to an attempt, and a task nobody can take says why, wherever it is shown."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.assignment import services
from apps.assignment.models import Assignment, Outcome, Reason, Unassignable
from apps.core.actors import Actor
from apps.staff.models import Staff
from apps.tasks import services as task_services
from apps.tasks.states import TaskStatus
from tests.builders import api_client, create_task, make_staff, make_task_type, make_user, require

S = TaskStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def confirm_type():
    return make_task_type(requires_assignment_confirmation=True, confirmation_timeout=60)


def act(task, action: str, by) -> None:
    task_services.task_transition(task_id=task.pk, action=action, by=Actor.for_user(by))


def holder_of(task):
    task.refresh_from_db()
    return task.status, task.assignee_user_id


def test_a_cancelled_then_retried_task_goes_back_to_the_only_qualified_person(margaret):
    ann = make_staff("ann")
    task = create_task(by=margaret)
    services.assign_queued()
    assert holder_of(task) == (S.ASSIGNED, ann.user_id)

    act(task, "cancel", margaret)
    act(task, "retry", margaret)
    assert services.assign_queued().assigned == 1

    assert holder_of(task) == (S.ASSIGNED, ann.user_id)
    assert not Unassignable.objects.exists()


def test_a_running_task_cancelled_and_retried_goes_back_to_its_only_person(margaret):
    ann = make_staff("ann")
    task = create_task(by=margaret)
    services.assign_queued()
    act(task, "start", ann.user)
    act(task, "cancel", margaret)
    act(task, "retry", margaret)

    services.assign_queued()

    assert holder_of(task) == (S.ASSIGNED, ann.user_id)


def test_a_decline_excludes_only_until_the_task_is_retried(margaret, confirm_type):
    ann = make_staff("ann")
    task = create_task(by=margaret, task_type=confirm_type)
    services.assign_queued()
    act(task, "decline", ann.user)
    assert services.assign_queued().assigned == 0  # in this attempt, ann said no

    act(task, "cancel", margaret)
    act(task, "retry", margaret)
    services.assign_queued()

    assert holder_of(task) == (S.ASSIGNED, ann.user_id)
    declined = Assignment.objects.get(task=task, outcome=Outcome.DECLINED)
    assert declined.assignee_user_id == ann.user_id and not declined.excludes_assignee


def test_a_failure_retried_by_schedule_starts_a_new_attempt_for_whoever_declined(
        margaret, confirm_type):
    confirm_type.max_retries = 1
    confirm_type.save()
    ann, ben = make_staff("ann"), make_staff("ben")
    task = create_task(by=margaret, task_type=confirm_type)
    services.assign_queued()
    first = task.__class__.objects.get(pk=task.pk).assignee_user
    act(task, "decline", first)
    services.assign_queued()
    second = task.__class__.objects.get(pk=task.pk).assignee_user
    assert {first.pk, second.pk} == {ann.user_id, ben.user_id}

    act(task, "accept", second)
    act(task, "fail", second)

    assert not Assignment.objects.filter(task=task, excludes_assignee=True).exists()


def test_being_handed_back_for_leave_or_cancel_excludes_nobody(margaret):
    ann = make_staff("ann")
    task = create_task(by=margaret)
    services.assign_queued()
    task_services.task_transition(task_id=task.pk, action="requeue", by=services.ENGINE,
                                  reason="ann is on leave", cause=Reason.LEAVE)
    services.assign_queued()
    assert holder_of(task) == (S.ASSIGNED, ann.user_id)

    act(task, "cancel", margaret)

    assert services.assignment_exclusions(task_ids=[task.pk]) == {}


def test_a_task_everyone_declined_is_unassignable_naming_them(margaret, confirm_type):
    ann = make_staff("ann")
    task = create_task(by=margaret, task_type=confirm_type)
    services.assign_queued()
    act(task, "decline", ann.user)

    assert services.assign_queued().unassignable == 1

    reason = Unassignable.objects.get(task=task).reason
    assert reason.startswith("everyone who could take it (ann) declined it")
    assert "retry the task or reassign it by hand" in reason


def test_an_unassignable_reason_names_the_skills_and_follows_what_changed(margaret):
    kind = require(make_task_type(requires_assignment_confirmation=True), {"cobol": 4})
    ann = make_staff("ann", skills={"cobol": 5})
    task = create_task(by=margaret, task_type=kind)
    services.assign_queued()
    act(task, "decline", ann.user)
    services.assign_queued()
    first = Unassignable.objects.get(task=task)
    assert first.reason.startswith("everyone who could take it (ann)")

    Staff.objects.filter(pk=ann.pk).update(capacity=0)
    services.assign_queued()

    again = Unassignable.objects.get(task=task)
    assert again.reason == "no qualified person with free capacity (needs cobol ≥ 4)"
    assert again.since == first.since and again.checked_at > first.checked_at


def test_cancelling_an_unassignable_task_clears_its_record(margaret):
    task = create_task(by=margaret, task_type=require(make_task_type(), {"cobol": 5}))
    services.assign_queued()
    assert Unassignable.objects.filter(task=task).exists()

    act(task, "cancel", margaret)

    assert not Unassignable.objects.filter(task=task).exists()


def test_a_manual_hand_over_clears_the_unassignable_record(margaret):
    task = create_task(by=margaret, task_type=require(make_task_type(), {"cobol": 5}))
    services.assign_queued()
    novice = make_staff("novice")

    services.task_reassign(task_id=task.pk, by=Actor.for_user(margaret), target=novice.user,
                           force=True)

    assert not Unassignable.objects.filter(task=task).exists()


def test_unassignable_tasks_are_listed_with_their_reason_to_those_who_see_them(olga, mallory):
    task = create_task(by=olga, task_type=require(make_task_type("legacy"), {"cobol": 5}))
    services.assign_queued()

    body = api_client(olga).get("/api/v1/unassignable").json()
    assert body["count"] == 1
    row = body["results"][0]
    assert (row["task"], row["title"], row["task_type"]) == (str(task.pk), task.title, "legacy")
    assert row["reason"].startswith("no qualified person")
    assert api_client(mallory).get("/api/v1/unassignable").json()["count"] == 0


def test_assignment_records_say_whether_they_exclude_their_person(olga, confirm_type):
    ann = make_staff("ann")
    task = create_task(by=olga, task_type=confirm_type)
    services.assign_queued()
    act(task, "decline", ann.user)

    records = api_client(olga).get(f"/api/v1/assignments?task={task.pk}").json()["results"]

    assert [(r["outcome"], r["excludes_assignee"]) for r in records] == [("declined", True)]


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_only_exclusions_of_the_current_attempt(margaret):
    """Records written before exclusions had a flag: a retry since then frees the person."""
    executor = MigrationExecutor(connection)
    before = [("assignment", "0001_initial")]
    after = [("assignment", "0002_exclusions_per_attempt")]
    ann, ben = make_user("ann"), make_user("ben")
    retried, waiting = create_task(by=margaret), create_task(by=margaret)
    for task, who in ((retried, ann), (waiting, ann), (waiting, ben)):
        Assignment.objects.create(task=task, assignee_user=who, strategy="least_loaded",
                                  outcome=Outcome.DECLINED)
    Assignment.objects.filter(assignee_user=ben).update(outcome=Outcome.REVOKED,
                                                        outcome_reason="leave: away")
    act(retried, "cancel", margaret)
    act(retried, "retry", margaret)
    try:
        executor.migrate(before)
        executor.loader.build_graph()
        executor.migrate(after)
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())

    excluded = services.assignment_exclusions(task_ids=[retried.pk, waiting.pk])
    assert excluded == {waiting.pk: {ann.pk}}
