"""What apps.assignment shows on a task's admin page, through apps.tasks.extensions."""

from __future__ import annotations

import pytest

from apps.assignment import services
from tests.builders import create_task, make_staff, make_task_type

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(olga, client):
    user = olga
    client.force_login(user)
    return user


def panel(client, task) -> str:
    page = client.get(f"/admin/tasks/task/{task.pk}/change/")
    assert page.status_code == 200
    [fieldset] = [f for f in page.context["adminform"] if f.name == "Assignment"]
    [[field]] = [list(line) for line in fieldset]
    return str(field.contents())


def test_the_page_says_who_holds_the_task_and_how_they_were_chosen(client, operator):
    make_staff("ann")
    task = create_task(by=operator, task_type=make_task_type(strategy="round_robin"))
    services.assign_queued()
    assert panel(client, task).startswith("ann (accepted, round_robin, score ")


def test_the_page_says_why_nobody_holds_it(client, operator):
    task = create_task(by=operator, task_type=make_task_type())
    services.assign_queued()  # nobody on staff
    assert panel(client, task) == "nobody: no qualified person with free capacity"
