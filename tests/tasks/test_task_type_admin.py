"""The task type admin writes through the task type services, and each app's inline through
that app's own service."""

from __future__ import annotations

import pytest

from apps.staff.models import RequiredSkill, Skill
from apps.tasks.models import TaskType
from tests.admin_forms import form_data
from tests.builders import make_task_type

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(olga, client):
    user = olga
    client.force_login(user)
    return user


def test_adding_a_type_with_required_skills(client, operator):
    python = Skill.objects.create(name="python")
    page = client.get("/admin/tasks/tasktype/add/")
    data = form_data(page, key="review", name="Review", **{
        "required_skills-0-skill": python.pk, "required_skills-0-level": 3})
    resp = client.post("/admin/tasks/tasktype/add/", data)
    assert resp.status_code == 302, resp.context["errors"] if resp.context else resp
    kind = TaskType.objects.get(key="review")
    assert list(kind.required_skills.values_list("skill__name", "level")) == [("python", 3)]


def test_changing_required_skills_replaces_them_as_a_set(client, operator):
    kind = make_task_type("review")
    python, sql = Skill.objects.create(name="python"), Skill.objects.create(name="sql")
    RequiredSkill.objects.create(task_type=kind, skill=python, level=2)
    page = client.get(f"/admin/tasks/tasktype/{kind.pk}/change/")
    data = form_data(page, **{"required_skills-0-DELETE": "on",
                              "required_skills-1-skill": sql.pk, "required_skills-1-level": 4})
    resp = client.post(f"/admin/tasks/tasktype/{kind.pk}/change/", data)
    assert resp.status_code == 302, resp.context["errors"] if resp.context else resp
    assert list(kind.required_skills.values_list("skill__name", "level")) == [("sql", 4)]


def test_deleting_an_unused_type(client, operator):
    kind = make_task_type("unused")
    resp = client.post(f"/admin/tasks/tasktype/{kind.pk}/delete/", {"post": "yes"})
    assert resp.status_code == 302
    assert not TaskType.objects.filter(pk=kind.pk).exists()
