"""Task types carry their required skills (and assignment settings) over the API."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.staff.models import RequiredSkill
from apps.tasks.models import TaskType
from tests.builders import (
    api_client,
    create_task,
    make_skill,
    make_task_type,
    require,
)

pytestmark = pytest.mark.django_db

NEW_TYPE = {
    "key": "code-review", "name": "Code review",
    "required_skills": [{"skill": "python", "level": 3}, {"skill": "sql", "level": 2}],
    "confirmation_timeout": 600, "skill_timeout": 120, "leave_policy": "reassign_all",
}


@pytest.fixture
def skills():
    return [make_skill("python"), make_skill("sql"), make_skill("go")]


def test_required_skills_round_trip(olga, skills):
    client = api_client(olga)
    resp = client.post("/api/v1/task-types", {**NEW_TYPE, "overflow_assignee": olga.pk})
    assert resp.status_code == 201, resp.data
    assert resp.json()["required_skills"] == NEW_TYPE["required_skills"]
    body = client.get("/api/v1/task-types/code-review").json()
    assert body["required_skills"] == NEW_TYPE["required_skills"]
    assert (body["confirmation_timeout"], body["skill_timeout"], body["overflow_assignee"],
            body["leave_policy"]) == (600, 120, olga.pk, "reassign_all")


def test_an_update_replaces_the_skills_and_leaving_them_out_keeps_them(olga, skills):
    client = api_client(olga)
    client.post("/api/v1/task-types", NEW_TYPE)
    url = "/api/v1/task-types/code-review"
    resp = client.patch(url, {"required_skills": [{"skill": "go", "level": 4}]})
    assert resp.json()["required_skills"] == [{"skill": "go", "level": 4}]
    assert client.patch(url, {"name": "Review"}).json()["required_skills"] == [
        {"skill": "go", "level": 4}]
    assert client.patch(url, {"required_skills": []}).json()["required_skills"] == []


@pytest.mark.parametrize("change,field", [
    ({"required_skills": [{"skill": "cobol", "level": 2}]}, "required_skills"),
    ({"required_skills": [{"skill": "python", "level": 9}]}, "required_skills"),
    ({"required_skills": [{"skill": "python"}]}, "required_skills"),
    ({"required_skills": "python"}, "required_skills"),
    ({"leave_policy": "vanish"}, "leave_policy"),
    ({"overflow_assignee": 999999}, "overflow_assignee"),
    ({"confirmation_timeout": -5}, "confirmation_timeout"),
])
def test_bad_input_writes_nothing(olga, skills, change, field):
    resp = api_client(olga).post("/api/v1/task-types", {**NEW_TYPE, **change})
    assert resp.status_code == 400 and field in resp.json(), resp.data
    assert not TaskType.objects.exists() and not RequiredSkill.objects.exists()


def test_a_bad_skill_on_update_keeps_the_old_ones(olga, skills):
    kind = require(make_task_type("review"), {"python": 3})
    resp = api_client(olga).patch("/api/v1/task-types/review", {
        "name": "renamed", "required_skills": [{"skill": "cobol", "level": 1}]})
    assert resp.status_code == 400
    kind.refresh_from_db()
    assert kind.name != "renamed"
    assert list(kind.required_skills.values_list("skill__name", "level")) == [("python", 3)]


def test_only_admins_set_required_skills(skills, alice):
    kind = require(make_task_type("review"), {"python": 3})
    resp = api_client(alice).patch(
        "/api/v1/task-types/review", {"required_skills": []})
    assert resp.status_code == 403
    assert kind.required_skills.count() == 1


def test_listing_types_costs_the_same_queries_for_few_or_many(olga, skills):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert api_client(olga).get("/api/v1/task-types?page_size=100").status_code == 200
        return len(ctx.captured_queries)

    require(make_task_type(), {"python": 2})
    few = queries()
    for i in range(10):
        require(make_task_type(), {"python": 2, "sql": 1, f"skill-{i}": 3})
    assert queries() == few


class TestKeyOfATypeInUse:
    """Clients create tasks by the type's key: once tasks use it, it stays."""

    def test_renaming_a_used_key_is_a_409_naming_key_and_how_many_tasks(self, olga):
        kind = make_task_type("callback")
        create_task(by=olga, task_type=kind)
        create_task(by=olga, task_type=kind)

        resp = api_client(olga).patch("/api/v1/task-types/callback",
                                      {"key": "phone-call", "name": "Phone call"})

        assert resp.status_code == 409
        assert "key" in resp.json()["detail"] and "2 task(s)" in resp.json()["detail"]
        kind.refresh_from_db()
        assert (kind.key, kind.name) == ("callback", "Callback")  # nothing half-written

    def test_other_fields_of_a_used_type_still_change(self, olga):
        kind = make_task_type("callback")
        create_task(by=olga, task_type=kind)

        resp = api_client(olga).patch("/api/v1/task-types/callback",
                                      {"key": "callback", "name": "Phone call"})

        assert resp.status_code == 200 and resp.json()["name"] == "Phone call"

    def test_an_unused_key_can_still_be_renamed(self, olga):
        make_task_type("callback")

        resp = api_client(olga).patch("/api/v1/task-types/callback", {"key": "phone-call"})

        assert resp.status_code == 200
        assert TaskType.objects.filter(key="phone-call").exists()

    def test_the_admin_shows_a_used_key_read_only(self, client, olga):
        used, unused = make_task_type("used"), make_task_type("unused")
        create_task(by=olga, task_type=used)
        client.force_login(olga)

        used_form = client.get(f"/admin/tasks/tasktype/{used.pk}/change/").context["adminform"]
        unused_form = client.get(
            f"/admin/tasks/tasktype/{unused.pk}/change/").context["adminform"]

        assert "key" not in used_form.form.fields and "key" in unused_form.form.fields


def test_required_skills_take_a_skill_id_or_name_and_refuse_the_same_skill_twice(olga, skills):
    python, sql, _ = skills
    client = api_client(olga)
    body = {**NEW_TYPE, "required_skills": [{"skill": python.pk, "level": 3},
                                            {"skill": "sql", "level": 2}]}

    assert client.post("/api/v1/task-types", body).json()["required_skills"] == [
        {"skill": "python", "level": 3}, {"skill": "sql", "level": 2}]
    twice = client.patch("/api/v1/task-types/code-review", {"required_skills": [
        {"skill": sql.pk, "level": 3}, {"skill": "sql", "level": 2}]})
    assert twice.status_code == 400 and "sql" in str(twice.json()["required_skills"])
