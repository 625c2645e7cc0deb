"""The dead-letter queue in the admin: failed tasks only, replayed in bulk."""

from __future__ import annotations

import pytest

from apps.tasks.models import Task
from apps.tasks.states import TaskStatus as S
from tests.builders import make_task_type, task_in_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client, olga):
    client.force_login(olga)
    return olga


def test_dead_letters_lists_failed_tasks_and_replays_them(client, operator):
    kind = make_task_type("docs", max_retries=0)
    dead = task_in_state(S.FAILED, creator=operator, task_type=kind, title="dead one")
    alive = task_in_state(S.RUNNING, creator=operator, task_type=kind, title="alive one")

    page = client.get("/admin/tasks/deadletter/").content.decode()
    assert "dead one" in page and "alive one" not in page

    response = client.post("/admin/tasks/deadletter/", {
        "action": "replay_selected", "_selected_action": [dead.pk, alive.pk]}, follow=True)

    assert "1 task replayed." in response.content.decode()
    assert Task.objects.get(pk=dead.pk).status == S.QUEUED
    assert Task.objects.get(pk=alive.pk).status == S.RUNNING


def test_a_dead_letter_is_shown_but_never_edited_or_deleted_here(client, operator):
    dead = task_in_state(S.FAILED, creator=operator,
                         task_type=make_task_type("docs", max_retries=0))

    page = client.get(f"/admin/tasks/deadletter/{dead.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(f"/admin/tasks/deadletter/{dead.pk}/change/",
                       {"title": "edited"}).status_code == 403
    assert client.post(f"/admin/tasks/deadletter/{dead.pk}/delete/",
                       {"post": "yes"}).status_code == 403
    assert Task.objects.get(pk=dead.pk).title != "edited"
