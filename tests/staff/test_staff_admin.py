"""The staff admin: cheap changelists, skills inline, load shown but never written."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.staff.models import RequiredSkill, Staff
from apps.tasks.states import TaskStatus as S
from tests.builders import (
    make_leave,
    make_skill,
    make_staff,
    make_task_type,
    make_team,
    require,
    task_in_state,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client, olga):
    client.force_login(olga)
    return olga


def changelist_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def add_people(first: int, count: int) -> None:
    for i in range(first, first + count):
        boss = make_staff(f"boss{i}").user
        person = make_staff(f"p{i}", team=make_team(f"t{i}", manager=boss,
                                                    parent=make_team(f"parent{i}")),
                            skills={f"s{i}": 2})
        make_leave(person, days_from_now=i, substitute=make_staff(f"sub{i}"))


@pytest.mark.parametrize("url", [
    "/admin/staff/staff/", "/admin/staff/leave/", "/admin/staff/team/", "/admin/staff/skill/",
    "/admin/staff/staff/?availability__exact=active", "/admin/staff/leave/?start__year=2026",
])
def test_changelists_cost_the_same_queries_for_few_or_many_rows(client, operator, url):
    add_people(0, 1)
    few = changelist_queries(client, url)
    add_people(1, 12)
    assert changelist_queries(client, url) == few


def test_the_staff_list_shows_load_and_capacity_and_filters_by_skill(client, operator, alice,
                                                                    bob):
    Staff.objects.filter(pk=alice.staff.pk).update(load=2)
    sql = make_skill("sql")
    page = client.get(f"/admin/staff/staff/?staff_skills__skill__id__exact={sql.pk}"
                      ).content.decode()
    assert "alice" in page and "bob" in page and "mallory" not in page
    page = client.get("/admin/staff/staff/?q=mallory").content.decode()
    assert "mallory" in page and "alice" not in page


def test_saving_a_person_keeps_the_load_that_moved_meanwhile(client, operator, alice):
    page = client.get(f"/admin/staff/staff/{alice.staff.pk}/change/").content.decode()
    assert "StaffSkill" in page or "staff_skills" in page
    for _ in range(2):  # hand-overs while the form was open
        task_in_state(S.ASSIGNED, creator=operator, assignee=alice)
    data = {"user": alice.pk, "team": alice.staff.team_id, "capacity": 5, "seniority": 2,
            "rating": 3, "availability": "active"}
    rows = list(alice.staff.staff_skills.all()) + [None]
    data |= {"staff_skills-TOTAL_FORMS": len(rows), "staff_skills-INITIAL_FORMS": len(rows) - 1}
    for i, row in enumerate(rows):
        skill, level = (row.skill_id, row.level) if row else (make_skill("go").pk, 1)
        data |= {f"staff_skills-{i}-id": row.pk if row else "", f"staff_skills-{i}-skill": skill,
                 f"staff_skills-{i}-level": level, f"staff_skills-{i}-staff": alice.staff.pk}
    resp = client.post(f"/admin/staff/staff/{alice.staff.pk}/change/", data)
    assert resp.status_code == 302, resp.content.decode()[:2000]
    alice.staff.refresh_from_db()
    assert (alice.staff.capacity, alice.staff.seniority, alice.staff.load) == (5, 2, 2)
    assert sorted(alice.staff.staff_skills.values_list("skill__name", flat=True)) == [
        "go", "python", "sql"]


def test_task_types_edit_their_required_skills_inline(client, operator):
    kind = require(make_task_type("review"), {"python": 3})
    page = client.get(f"/admin/tasks/tasktype/{kind.pk}/change/").content.decode()
    assert "required_skills-0-skill" in page
    assert RequiredSkill.objects.filter(task_type=kind).count() == 1


def test_the_leave_list_is_a_calendar_ordered_by_start(client, operator, alice, bob):
    make_leave(alice.staff, days_from_now=30, reason="later")
    make_leave(bob.staff, days_from_now=3, reason="sooner")
    page = client.get("/admin/staff/leave/").content.decode()
    assert "start__year=" in page  # the date drill-down
    assert page.index("sooner") < page.index("later")


def test_a_skill_listed_twice_inline_is_a_form_error_not_a_crash(client, operator, alice):
    python = make_skill("python")
    data = {"user": alice.pk, "team": alice.staff.team_id, "capacity": 3, "seniority": 1,
            "rating": 3, "availability": "active",
            "staff_skills-TOTAL_FORMS": 2, "staff_skills-INITIAL_FORMS": 0}
    for i in range(2):
        data |= {f"staff_skills-{i}-skill": python.pk, f"staff_skills-{i}-level": 2,
                 f"staff_skills-{i}-staff": alice.staff.pk}
    alice.staff.staff_skills.all().delete()
    resp = client.post(f"/admin/staff/staff/{alice.staff.pk}/change/", data)
    assert resp.status_code == 200 and "duplicate" in resp.content.decode().lower()
    assert not alice.staff.staff_skills.exists()


class TestRemovingPeopleWhoHoldWork:
    def test_the_delete_page_refuses_with_a_message_naming_the_tasks(self, client, operator,
                                                                     alice):
        held = task_in_state(S.RUNNING, creator=operator, assignee=alice)
        url = f"/admin/staff/staff/{alice.staff.pk}/delete/"

        for response in (client.get(url, follow=True), client.post(url, {"post": "yes"},
                                                                      follow=True)):
            shown = [str(m) for m in response.context["messages"]]
            assert any(str(held.pk) in m and m.startswith("Not deleted") for m in shown)
        assert Staff.objects.filter(pk=alice.staff.pk).exists()

    def test_the_bulk_delete_refuses_everyone_if_anyone_holds_work(self, client, operator,
                                                                   alice, bob):
        held = task_in_state(S.ASSIGNED, creator=operator, assignee=bob)

        response = client.post("/admin/staff/staff/", {
            "action": "delete_selected", "_selected_action": [alice.staff.pk, bob.staff.pk],
            "post": "yes",
        }, follow=True)

        shown = " ".join(str(m) for m in response.context["messages"])
        assert "Nothing deleted" in shown and str(held.pk) in shown
        assert Staff.objects.count() == 2

    def test_people_without_work_are_still_deleted_after_confirmation(self, client, operator,
                                                                      alice):
        url = f"/admin/staff/staff/{alice.staff.pk}/delete/"

        assert client.get(url).status_code == 200  # the usual confirmation page
        client.post(url, {"post": "yes"})

        assert not Staff.objects.filter(pk=alice.staff.pk).exists()
