"""Staff services and selectors: the rules that hold whichever door the change comes in by."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.exceptions import InvalidInput
from apps.staff import selectors, services
from apps.staff.models import Leave, Staff
from apps.tasks.states import TaskStatus
from tests.builders import (
    make_leave,
    make_skill,
    make_task_type,
    make_team,
    require,
    task_in_state,
)
from tests.concurrency import race

S = TaskStatus
pytestmark = pytest.mark.django_db


def test_staff_update_leaves_a_concurrently_moved_load_alone(alice):
    stale = Staff.objects.get(pk=alice.staff.pk)  # read before the hand-overs below
    for _ in range(3):
        task_in_state(S.ASSIGNED, creator=alice, assignee=alice)
    updated = services.staff_update(staff=stale, capacity=5, skills=[(make_skill("go"), 1)])
    assert (updated.capacity, updated.load) == (5, 3)
    assert [s.skill.name for s in updated.staff_skills.all()] == ["go"]


def test_staff_update_refuses_fields_it_does_not_own(alice):
    with pytest.raises(InvalidInput):
        services.staff_update(staff=alice.staff, load=0)


def test_a_team_chain_never_loops(platform):
    child = make_team("child", parent=platform)
    grandchild = make_team("grandchild", parent=child)
    with pytest.raises(InvalidInput):
        services.team_update(team=platform, parent=grandchild)
    assert services.team_update(team=grandchild, parent=platform).parent == platform


def test_moving_a_started_leave_into_the_future_makes_the_sweep_handle_it_again(alice):
    leave = make_leave(alice.staff, days_from_now=-1, started_handled_at=timezone.now())
    services.leave_update(leave=leave, reason="still away")
    assert Leave.objects.get(pk=leave.pk).started_handled_at is not None
    later = timezone.now() + timedelta(days=2)
    services.leave_update(leave=leave, start=later, end=later + timedelta(days=1))
    assert Leave.objects.get(pk=leave.pk).started_handled_at is None


def test_required_skills_set_replaces_them():
    kind = require(make_task_type(), {"python": 3, "sql": 1})
    services.required_skills_set(task_type=kind, skills=[(make_skill("go"), 2)])
    assert list(kind.required_skills.values_list("skill__name", "level")) == [("go", 2)]


def test_the_workload_counts_open_work_in_one_query(alice, bob, margaret):
    for status in (S.RUNNING, S.PAUSED, S.COMPLETED, S.CANCELLED):
        task_in_state(status, creator=margaret, assignee=alice)
    Staff.objects.filter(pk=alice.staff.pk).update(load=5)  # over capacity: free shows 0, not -2
    with CaptureQueriesContext(connection) as ctx:
        rows = {r["username"]: r for r in selectors.staff_workload()}
    assert len(ctx.captured_queries) == 1
    assert (rows["alice"]["open_tasks"], rows["alice"]["free_capacity"]) == (2, 0)
    assert rows["bob"]["open_tasks"] == 0 and rows["bob"]["team"] == "support"


def test_managers_manage_only_their_teams(margaret, olga, alice, rita, mallory, bob):
    assert set(selectors.staff_visible_managed_by(user=margaret)) == {alice.staff, rita.staff}
    assert set(selectors.staff_visible_managed_by(user=olga)) == {
        alice.staff, rita.staff, mallory.staff, bob.staff}
    assert not selectors.staff_visible_managed_by(user=alice).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_two_overlapping_leave_requests_at_once_give_one_leave(alice):
    person = alice.staff
    start = timezone.now() + timedelta(days=3)

    def request(i: int):
        return services.leave_request(staff=person, start=start + timedelta(hours=i),
                                      end=start + timedelta(days=2))

    outcomes = race(4, request)
    assert sum(isinstance(o, Leave) for o in outcomes) == 1
    assert all(isinstance(o, (Leave, InvalidInput)) for o in outcomes), outcomes
    assert Leave.objects.count() == 1


@pytest.mark.django_db
def test_saving_a_stale_staff_instance_does_not_overwrite_the_load(bob):
    stale = Staff.objects.get(pk=bob.staff.pk)
    for _ in range(2):  # hand-overs meanwhile
        task_in_state(S.ASSIGNED, creator=bob, assignee=bob)
    stale.capacity = 5
    stale.save()
    stale.refresh_from_db()
    assert (stale.capacity, stale.load) == (5, 2)
