"""The staff directory and people's settings: who reads, who changes what, and bad input."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.staff.models import Staff, StaffSkill
from apps.tasks.states import TaskStatus
from tests.builders import (
    api_client,
    make_leave,
    make_skill,
    make_staff,
    make_task_type,
    make_team,
    make_user,
    task_in_state,
)

S = TaskStatus
User = get_user_model()
pytestmark = pytest.mark.django_db

NEW_PERSON = {
    "username": "carol", "password": "a-long-Passphrase-77", "email": "carol@example.com",
    "first_name": "Carol", "last_name": "Jones", "capacity": 4, "seniority": 3, "rating": 4,
    "skills": [{"skill": "python", "level": 5}, {"skill": "sql", "level": 2}],
}


class TestDirectory:
    def test_everyone_signed_in_reads_the_directory(self, alice, bob, mallory):
        body = api_client(mallory).get("/api/v1/staff").json()
        assert [r["username"] for r in body["results"]] == ["alice", "bob", "mallory"]

    def test_a_record_shows_load_free_capacity_leave_and_skills(self, alice, platform):
        kind = make_task_type(capacity_weight=2)
        task_in_state(S.RUNNING, creator=alice, assignee=alice, task_type=kind)  # takes 2
        make_leave(alice.staff, days_from_now=-1, days=3)
        body = api_client(alice).get(f"/api/v1/staff/{alice.staff.pk}").json()
        assert body["user"] == alice.pk and body["username"] == "alice"
        assert (body["team"], body["team_name"]) == (platform.pk, "platform")
        assert (body["capacity"], body["current_load"], body["free_capacity"]) == (3, 2, 1)
        assert body["on_leave_now"] is True and body["availability"] == "active"
        assert body["skills"] == [{"skill": "python", "level": 4}, {"skill": "sql", "level": 3}]

    def test_someone_without_a_team_shows_none(self, alice):
        solo = make_staff("solo")
        body = api_client(alice).get(f"/api/v1/staff/{solo.pk}").json()
        assert (body["team"], body["team_name"], body["skills"]) == (None, None, [])

    def test_a_leave_in_the_future_or_past_is_not_on_leave_now(self, alice):
        make_leave(alice.staff, days_from_now=2)
        make_leave(alice.staff, days_from_now=-10, days=2)
        assert api_client(alice).get(
            f"/api/v1/staff/{alice.staff.pk}").json()["on_leave_now"] is False

    def test_filters_by_team_skill_level_and_availability(self, alice, bob, rita, mallory,
                                                          platform):
        client = api_client(alice)

        def names(query):
            return [r["username"] for r in client.get(f"/api/v1/staff?{query}").json()["results"]]

        assert names(f"team={platform.pk}") == ["alice", "rita"]
        assert names("skill=python") == ["alice", "rita"]
        assert names("skill=python&min_level=3") == ["alice"]
        Staff.objects.filter(pk=bob.staff.pk).update(availability="inactive")
        assert names("availability=inactive") == ["bob"]
        assert client.get("/api/v1/staff?availability=away").status_code == 400

    def test_the_list_costs_the_same_queries_for_few_or_many_people(self, alice, platform):
        def queries():
            with CaptureQueriesContext(connection) as ctx:
                assert api_client(alice).get("/api/v1/staff?page_size=100").status_code == 200
            return len(ctx.captured_queries)

        few = queries()
        for i in range(12):
            person = make_staff(f"p{i}", team=make_team(f"t{i}"), skills={"go": 2, f"s{i}": 1})
            make_leave(person, days_from_now=-1)
        assert queries() == few

    def test_anonymous_is_a_401_and_unknown_ids_a_404(self, alice):
        assert api_client().get("/api/v1/staff").status_code == 401
        assert api_client(alice).get("/api/v1/staff/999999").status_code == 404
        assert api_client(alice).get("/api/v1/staff/abc").status_code == 404


class TestCreate:
    def test_an_admin_adds_a_person_with_skills(self, olga, platform):
        make_skill("python"), make_skill("sql")
        resp = api_client(olga).post("/api/v1/staff", {**NEW_PERSON, "team": platform.pk})
        assert resp.status_code == 201, resp.data
        body = resp.json()
        assert (body["username"], body["full_name"], body["team"]) == (
            "carol", "Carol Jones", platform.pk)
        assert (body["capacity"], body["current_load"], body["seniority"], body["rating"]) == (
            4, 0, 3, 4)
        assert body["skills"] == [{"skill": "python", "level": 5}, {"skill": "sql", "level": 2}]
        assert "password" not in body
        assert User.objects.get(username="carol").check_password(NEW_PERSON["password"])

    def test_skills_are_given_by_name_or_by_the_id_the_skills_api_returned(self, olga):
        client = api_client(olga)
        python_id = client.post("/api/v1/skills", {"name": "python"}).json()["id"]
        make_skill("sql"), make_skill("1984")  # a name made of digits is still a name

        resp = client.post("/api/v1/staff", {**NEW_PERSON, "skills": [
            {"skill": python_id, "level": 5}, {"skill": "sql", "level": 2},
            {"skill": "1984", "level": 1}]})

        assert resp.status_code == 201, resp.data
        assert sorted(map(tuple, (s.values() for s in resp.json()["skills"]))) == [
            ("1984", 1), ("python", 5), ("sql", 2)]

    def test_without_a_password_the_account_waits_for_a_reset(self, olga):
        resp = api_client(olga).post("/api/v1/staff", {"username": "dave"})
        assert resp.status_code == 201, resp.data
        assert not User.objects.get(username="dave").has_usable_password()

    @pytest.mark.parametrize("change,field", [
        ({"skills": [{"skill": "python", "level": 6}]}, "skills"),
        ({"skills": [{"skill": "python", "level": 0}]}, "skills"),
        ({"skills": [{"skill": "cobol", "level": 3}]}, "skills"),
        ({"skills": [{"skill": "python", "level": 3}, {"skill": "python", "level": 2}]},
         "skills"),
        ({"skills": [{"skill": "python", "level": 3, "years": 2}]}, "skills"),
        ({"skills": [{"skill": 999999, "level": 3}]}, "skills"),
        ({"skills": [{"skill": 0, "level": 3}]}, "skills"),
        ({"skills": [{"skill": 2**70, "level": 3}]}, "skills"),
        ({"skills": [{"skill": True, "level": 3}]}, "skills"),
        ({"skills": [{"skill": 1.5, "level": 3}]}, "skills"),
        ({"skills": [{"skill": ["python"], "level": 3}]}, "skills"),
        ({"skills": [{"skill": "x" * 101, "level": 3}]}, "skills"),
        ({"username": "alice"}, "username"),
        ({"username": "bad name!"}, "username"),
        ({"username": ""}, "username"),
        ({"password": "123"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"capacity": -1}, "capacity"),
        ({"seniority": 6}, "seniority"),
        ({"rating": 0}, "rating"),
        ({"availability": "away"}, "availability"),
        ({"team": 999999}, "team"),
        ({"load": 2}, "load"),
    ])
    def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(self, olga, alice, change,
                                                                   field):
        before = (User.objects.count(), Staff.objects.count(), StaffSkill.objects.count())
        resp = api_client(olga).post("/api/v1/staff", {**NEW_PERSON, **change})
        assert resp.status_code == 400 and field in resp.json(), resp.data
        assert (User.objects.count(), Staff.objects.count(), StaffSkill.objects.count()) == before

    def test_only_admins_add_people(self, margaret, alice, platform):
        for user in (margaret, alice):
            resp = api_client(user).post("/api/v1/staff", {**NEW_PERSON, "team": platform.pk})
            assert resp.status_code == 403
        assert not User.objects.filter(username="carol").exists()
        assert api_client().post("/api/v1/staff", NEW_PERSON).status_code == 401


class TestUpdate:
    def patch(self, user, staff, data):
        return api_client(user).patch(f"/api/v1/staff/{staff.pk}", data, format="json")

    def test_a_manager_changes_a_member_of_their_team(self, margaret, alice):
        make_skill("go")
        resp = self.patch(margaret, alice.staff, {
            "capacity": 5, "availability": "inactive", "seniority": 4, "rating": 5,
            "skills": [{"skill": "go", "level": 2}],
        })
        assert resp.status_code == 200, resp.data
        body = resp.json()
        assert (body["capacity"], body["availability"], body["seniority"], body["rating"]) == (
            5, "inactive", 4, 5)
        assert body["skills"] == [{"skill": "go", "level": 2}]

    def test_an_update_never_writes_the_load(self, margaret, alice):
        # The load moved (two hand-overs) since the row was first read: the update must not
        # put back the value it read.
        for _ in range(2):
            task_in_state(S.ASSIGNED, creator=margaret, assignee=alice)
        assert self.patch(margaret, alice.staff, {"capacity": 4}).json()["current_load"] == 2

    def test_a_manager_cannot_change_another_teams_member(self, margaret, bob):
        assert self.patch(margaret, bob.staff, {"capacity": 9}).status_code == 403
        bob.staff.refresh_from_db()
        assert bob.staff.capacity == 3

    def test_a_manager_cannot_move_people_to_another_team_or_out_of_theirs(
            self, margaret, alice, support):
        assert self.patch(margaret, alice.staff, {"team": support.pk}).status_code == 403
        assert self.patch(margaret, alice.staff, {"team": None}).status_code == 403
        alice.staff.refresh_from_db()
        assert alice.staff.team.name == "platform"

    def test_a_manager_of_two_teams_moves_people_between_them(self, margaret, alice):
        second = make_team("platform-2", manager=margaret)
        assert self.patch(margaret, alice.staff, {"team": second.pk}).json()["team"] == second.pk

    def test_an_admin_moves_anyone_anywhere(self, olga, alice, support):
        assert self.patch(olga, alice.staff, {"team": support.pk}).json()["team"] == support.pk

    def test_staff_members_change_nothing_about_anyone_even_themselves(self, alice, rita):
        assert self.patch(rita, alice.staff, {"capacity": 9}).status_code == 403
        assert self.patch(alice, alice.staff, {"capacity": 9}).status_code == 403
        assert api_client(alice).delete(f"/api/v1/staff/{rita.staff.pk}").status_code == 403

    @pytest.mark.parametrize("data,field", [
        ({"capacity": -1}, "capacity"), ({"skills": [{"skill": "cobol", "level": 1}]}, "skills"),
        ({"skills": [{"skill": "python"}]}, "skills"), ({"username": "x"}, "username"),
        ({"load": 0}, "load"), ({"seniority": "high"}, "seniority"),
    ])
    def test_bad_changes_are_a_400_and_change_nothing(self, margaret, alice, data, field):
        resp = self.patch(margaret, alice.staff, {"capacity": 7, **data})
        assert resp.status_code == 400 and field in resp.json()
        alice.staff.refresh_from_db()
        assert alice.staff.capacity == 3 and alice.staff.staff_skills.count() == 2

    def test_put_is_not_offered(self, olga, alice):
        resp = api_client(olga).put(f"/api/v1/staff/{alice.staff.pk}", {"capacity": 1},
                                    format="json")
        assert resp.status_code == 405

    def test_unknown_ids_are_a_404(self, olga):
        assert api_client(olga).patch("/api/v1/staff/999999", {}).status_code == 404


class TestDelete:
    def test_an_admin_removes_a_person_but_keeps_their_account(self, olga, alice):
        assert api_client(olga).delete(f"/api/v1/staff/{alice.staff.pk}").status_code == 204
        assert not Staff.objects.filter(pk=alice.staff.pk).exists()
        assert User.objects.filter(username="alice").exists()

    def test_someone_holding_work_cannot_be_removed_and_the_409_names_the_tasks(
            self, olga, alice):
        running = task_in_state(S.RUNNING, creator=olga, assignee=alice)
        paused = task_in_state(S.PAUSED, creator=olga, assignee=alice)
        task_in_state(S.COMPLETED, creator=olga, assignee=alice)

        resp = api_client(olga).delete(f"/api/v1/staff/{alice.staff.pk}")

        assert resp.status_code == 409
        assert resp.json()["held_tasks"] == [str(running.pk), str(paused.pk)]
        assert resp.json()["code"] == "conflict"
        assert str(running.pk) in resp.json()["detail"]
        assert Staff.objects.filter(pk=alice.staff.pk).exists()

    def test_managers_do_not_remove_people(self, margaret, alice):
        assert api_client(margaret).delete(f"/api/v1/staff/{alice.staff.pk}").status_code == 403


def test_a_plain_user_without_a_staff_record_still_reads_the_directory(alice):
    assert api_client(make_user("visitor")).get("/api/v1/staff").json()["count"] == 1
