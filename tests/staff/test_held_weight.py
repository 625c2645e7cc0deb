"""The capacity taken at hand-over is what is given back, whatever the type weighs since."""

from __future__ import annotations

import pytest

from apps.assignment import services as assignment
from apps.core.actors import Actor
from apps.staff.models import Staff
from apps.staff.services import staff_reconcile_load
from apps.tasks import services
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus
from tests.builders import api_client, create_task, make_staff, make_task_type

S = TaskStatus
pytestmark = pytest.mark.django_db


def load_of(staff: Staff) -> int:
    staff.refresh_from_db()
    return staff.load


@pytest.fixture
def ann():
    return make_staff("ann", capacity=10)


def hand_over(task: Task, staff: Staff, *, by, bulk: bool) -> None:
    """Through the engine's batch (capacity taken up front) or one task at a time."""
    if bulk:
        assert assignment.assign_queued(task_ids=[task.pk]).assigned == 1
    else:
        services.task_assign(task_id=task.pk, user=staff.user, by=Actor.for_user(by))


@pytest.mark.parametrize("bulk", [True, False])
@pytest.mark.parametrize("action,holder_acts", [
    ("cancel", False), ("decline", True), ("fail", True),
])
@pytest.mark.parametrize("new_weight", [1, 5])
def test_changing_the_weight_while_a_task_is_held_then_letting_it_go_is_200_and_exact(
        margaret, ann, bulk, action, holder_acts, new_weight):
    kind = make_task_type("heavy", capacity_weight=2, max_retries=0)
    held, other = create_task(by=margaret, task_type=kind), create_task(by=margaret, task_type=kind)
    hand_over(held, ann, by=margaret, bulk=bulk)
    hand_over(other, ann, by=margaret, bulk=bulk)
    assert load_of(ann) == 4
    kind.capacity_weight = new_weight
    kind.save()
    if action == "fail":
        services.task_transition(task_id=held.pk, action="start", by=Actor.for_user(ann.user))

    actor = ann.user if holder_acts else margaret
    response = api_client(actor).post(f"/api/v1/tasks/{held.pk}/{action}", {}, format="json")

    assert response.status_code == 200, response.content
    assert load_of(ann) == 2  # the other task, at the weight it was taken with
    assert staff_reconcile_load() == 0  # and the sweep agrees: nothing to correct


def test_a_reassignment_gives_back_what_was_taken_and_the_new_holder_takes_the_new_weight(margaret):
    ann, bob = make_staff("ann", capacity=10), make_staff("bob", capacity=10)
    kind = make_task_type("heavy", capacity_weight=3)
    task = create_task(by=margaret, task_type=kind)
    hand_over(task, ann, by=margaret, bulk=False)
    kind.capacity_weight = 1
    kind.save()

    response = api_client(margaret).post(f"/api/v1/tasks/{task.pk}/reassign",
                                     {"target": bob.pk, "force": True}, format="json")

    assert response.status_code == 200, response.content
    assert (load_of(ann), load_of(bob)) == (0, 1)
    assert Task.objects.get(pk=task.pk).held_weight == 1


def test_a_task_no_longer_held_weighs_nothing(margaret, ann):
    task = create_task(by=margaret, task_type=make_task_type(capacity_weight=2))
    hand_over(task, ann, by=margaret, bulk=True)
    assert Task.objects.get(pk=task.pk).held_weight == 2
    services.task_transition(task_id=task.pk, action="cancel", by=Actor.for_user(margaret))
    assert Task.objects.get(pk=task.pk).held_weight == 0
