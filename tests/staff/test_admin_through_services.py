"""The staff admin changes people, teams, skills and leave only through apps.staff.services:
the API's rules hold on the admin's forms, reported on the field at fault, nothing half-saved."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.staff.models import Leave, Skill, Staff, Team
from tests.builders import (
    make_leave,
    make_skill,
    make_staff,
    make_task_type,
    make_team,
    make_user,
    require,
)

pytestmark = pytest.mark.django_db

FORM_DATE = "%Y-%m-%d"
FORM_TIME = "%H:%M:%S"


@pytest.fixture
def operator(client, olga):
    client.force_login(olga)
    return olga


def leave_form(staff: Staff, start, end, **extra) -> dict:
    return {"staff": staff.pk, "start_0": start.strftime(FORM_DATE),
            "start_1": start.strftime(FORM_TIME), "end_0": end.strftime(FORM_DATE),
            "end_1": end.strftime(FORM_TIME), "reason": "", **extra}


def test_an_overlapping_leave_is_refused_on_its_start_field(client, operator):
    ann = make_staff("ann")
    booked = make_leave(ann, days_from_now=10, days=5)
    start = booked.start + timedelta(days=1)

    response = client.post("/admin/staff/leave/add/", leave_form(ann, start,
                                                                 start + timedelta(days=2)))

    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["start"] and f"Overlaps leave {booked.pk}" in errors["start"][0]
    assert Leave.objects.filter(staff=ann).count() == 1


def test_a_leave_with_its_person_as_substitute_is_refused(client, operator):
    ann = make_staff("ann")
    start = timezone.now() + timedelta(days=3)

    response = client.post("/admin/staff/leave/add/", leave_form(
        ann, start, start + timedelta(days=1), substitute=ann.pk))

    assert response.context["adminform"].form.errors["substitute"] == ["Must be someone else."]
    assert not Leave.objects.exists()


def test_a_leave_added_in_the_admin_is_the_services_leave(client, operator):
    ann, ben = make_staff("ann"), make_staff("ben")
    start = timezone.now() + timedelta(days=3)

    response = client.post("/admin/staff/leave/add/", leave_form(
        ann, start, start + timedelta(days=1), substitute=ben.pk, reason="holiday"))

    assert response.status_code == 302
    leave = Leave.objects.get(staff=ann)
    assert (leave.substitute, leave.reason) == (ben, "holiday")


def test_moving_a_leave_onto_another_is_refused_and_nothing_changes(client, operator):
    ann = make_staff("ann")
    first = make_leave(ann, days_from_now=10, days=2)
    second = make_leave(ann, days_from_now=20, days=2)
    data = leave_form(ann, first.start, first.end)
    data.pop("staff")  # read-only once saved

    response = client.post(f"/admin/staff/leave/{second.pk}/change/", data)

    assert "start" in response.context["adminform"].form.errors
    second.refresh_from_db()
    assert second.start > first.end


def test_a_team_cannot_be_put_inside_its_own_child(client, operator):
    parent = make_team("parent")
    child = make_team("child", parent=parent)

    response = client.post(f"/admin/staff/team/{parent.pk}/change/",
                           {"name": "parent", "manager": "", "parent": child.pk})

    assert response.context["adminform"].form.errors["parent"] == [
        "A team cannot be inside itself."]
    parent.refresh_from_db()
    assert parent.parent is None


def test_a_team_added_in_the_admin_keeps_its_manager(client, operator, sam):
    response = client.post("/admin/staff/team/add/", {"name": "ops", "manager": sam.pk,
                                                       "parent": ""})

    assert response.status_code == 302
    assert Team.objects.get(name="ops").manager == sam


def test_a_skill_a_task_type_needs_is_not_deleted(client, operator):
    require(make_task_type("review"), {"python": 3})
    python = Skill.objects.get(name="python")

    client.post("/admin/staff/skill/", {"action": "delete_selected", "post": "yes",
                                        "_selected_action": [python.pk]}, follow=True)

    assert Skill.objects.filter(pk=python.pk).exists()


def test_a_person_added_in_the_admin_gets_their_skills_through_the_service(client, operator):
    user = make_user("newcomer")
    sql = make_skill("sql")

    response = client.post("/admin/staff/staff/add/", {
        "user": user.pk, "team": "", "capacity": 4, "seniority": 2, "rating": 3,
        "availability": "active",
        "staff_skills-TOTAL_FORMS": 1, "staff_skills-INITIAL_FORMS": 0,
        "staff_skills-0-skill": sql.pk, "staff_skills-0-level": 4,
    })

    assert response.status_code == 302
    staff = Staff.objects.get(user=user)
    assert (staff.capacity, staff.load) == (4, 0)
    assert list(staff.staff_skills.values_list("skill__name", "level")) == [("sql", 4)]
