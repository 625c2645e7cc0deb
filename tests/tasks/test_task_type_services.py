"""Task types change through their services: one transaction with what other apps keep for
them (apps.tasks.extensions), the key fixed once used, deletion refused while tasks use it."""

from __future__ import annotations

import pytest

from apps.core.actors import Actor
from apps.core.exceptions import Conflict, InvalidInput
from apps.staff.models import RequiredSkill, Skill
from apps.tasks import extensions, services
from apps.tasks.models import TaskType
from tests.builders import create_task, make_task_type, make_user

pytestmark = pytest.mark.django_db
BY = Actor.system("tests")


def test_create_writes_the_type_and_each_apps_share_together():
    python = Skill.objects.create(name="python")
    kind = services.task_type_create(by=BY, key="review", name="Review", capacity_weight=2,
                                     required_skills=[(python, 3)])
    assert TaskType.objects.get(key="review").capacity_weight == 2
    assert list(RequiredSkill.objects.filter(task_type=kind).values_list(
        "skill__name", "level")) == [("python", 3)]


def test_a_share_refused_leaves_no_type_behind():
    def refuse(**_):
        raise InvalidInput(fields={"refused": ["No."]})

    extensions.contribute_to_task_type(extensions.TaskTypeContribution(
        app="refusing", order=99, fields=lambda: {"refused": None}, write=refuse))
    try:
        with pytest.raises(InvalidInput):
            services.task_type_create(by=BY, key="half", name="Half", refused=1)
    finally:
        extensions._task_type.pop("refusing")
    assert not TaskType.objects.filter(key="half").exists()


def test_a_field_nobody_owns_is_invalid_input_naming_it():
    with pytest.raises(InvalidInput) as exc:
        services.task_type_create(by=BY, key="k", name="K", colour="red")
    assert exc.value.fields == {"colour": ["Not a task type field."]}


def test_update_changes_own_fields_and_keeps_a_used_key():
    kind = make_task_type("callback")
    services.task_type_update(task_type=kind, by=BY, name="Call back", key="call-back")
    kind.refresh_from_db()
    assert (kind.key, kind.name) == ("call-back", "Call back")
    create_task(by=make_user("ann"), task_type=kind)
    with pytest.raises(Conflict, match="1 task"):
        services.task_type_update(task_type=kind, by=BY, key="renamed")


def test_delete_removes_an_unused_type_and_refuses_a_used_one():
    unused, used = make_task_type("unused"), make_task_type("used")
    create_task(by=make_user("ann"), task_type=used)
    services.task_type_delete(task_type=unused, by=BY)
    with pytest.raises(Conflict, match="deactivate it instead"):
        services.task_type_delete(task_type=used, by=BY)
    assert list(TaskType.objects.values_list("key", flat=True)) == ["used"]
