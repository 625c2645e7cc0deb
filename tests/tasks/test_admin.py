"""The admin: operators see tasks cheaply and move them through the same services."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.tasks.states import TaskStatus
from tests.admin_forms import form_data
from tests.builders import (
    create_task,
    history_since_built,
    make_task_type,
    make_user,
    task_in_state,
)

S = TaskStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client, olga):
    client.force_login(olga)
    return olga


def test_the_changelist_costs_the_same_queries_for_few_or_many_tasks(client, operator):
    kind = make_task_type()

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/admin/tasks/task/").status_code == 200
        return len(ctx.captured_queries)

    task_in_state(S.RUNNING, creator=operator, task_type=kind)
    few = queries()
    for i in range(15):
        task_in_state(S.RUNNING, creator=operator, assignee=make_user(f"u{i}"), task_type=kind)
    assert queries() == few


def test_the_change_page_offers_only_the_allowed_transitions(client, operator):
    task = task_in_state(S.RUNNING, creator=operator)
    page = client.get(f"/admin/tasks/task/{task.pk}/change/").content.decode()
    for name in ("pause", "complete", "cancel", "requeue"):
        assert f'data-transition="{name}"' in page
    assert 'data-transition="retry"' not in page and 'data-transition="resume"' not in page


def test_a_transition_button_goes_through_the_service(client, operator):
    task = task_in_state(S.RUNNING, creator=operator)
    resp = client.post(f"/admin/tasks/task/{task.pk}/transition/pause/")
    assert resp.status_code == 302
    task.refresh_from_db()
    assert task.status == S.PAUSED
    row = history_since_built(task).get()
    assert (row.transition, row.actor_user, row.reason) == ("pause", operator, "admin")


def test_a_button_for_a_step_not_allowed_changes_nothing(client, operator):
    task = task_in_state(S.COMPLETED, creator=operator)
    resp = client.post(f"/admin/tasks/task/{task.pk}/transition/pause/", follow=True)
    assert "cannot pause a task that is completed" in resp.content.decode().lower()
    task.refresh_from_db()
    assert task.status == S.COMPLETED


def test_buttons_need_a_post_and_an_operator(client, operator, mallory):
    task = task_in_state(S.RUNNING, creator=operator)
    assert client.get(f"/admin/tasks/task/{task.pk}/transition/pause/").status_code == 405
    client.force_login(mallory)
    resp = client.post(f"/admin/tasks/task/{task.pk}/transition/pause/")
    assert resp.status_code == 302 and "/admin/login/" in resp["Location"]
    task.refresh_from_db()
    assert task.status == S.RUNNING


def test_bulk_cancel_cancels_what_it_can_and_counts_the_rest(client, operator):
    open_tasks = [create_task(by=operator) for _ in range(2)]
    done = task_in_state(S.COMPLETED, creator=operator)
    resp = client.post("/admin/tasks/task/", {
        "action": "cancel_selected",
        "_selected_action": [str(t.pk) for t in [*open_tasks, done]],
    }, follow=True)
    text = resp.content.decode()
    assert "2 tasks cancelled." in text and "1 task skipped" in text
    assert {t.status for t in type(done).objects.filter(pk__in=[t.pk for t in open_tasks])} == {
        S.CANCELLED}


def test_bulk_retry_requeues_failed_tasks(client, operator):
    failed = task_in_state(S.FAILED, creator=operator)
    resp = client.post("/admin/tasks/task/", {
        "action": "retry_selected", "_selected_action": [str(failed.pk)]}, follow=True)
    assert "1 task retried." in resp.content.decode()
    failed.refresh_from_db()
    assert failed.status == S.QUEUED


@pytest.mark.parametrize("url", ["/admin/tasks/tasktype/", "/admin/tasks/taskhistory/",
                                 "/admin/tasks/tasklog/"])
def test_other_task_models_are_listed(client, operator, url):
    create_task(by=operator)
    assert client.get(url).status_code == 200


class TestEditingATask:
    """Only what task_update edits is editable, and the edit goes through it."""

    def test_type_schedule_and_parent_are_shown_not_editable(self, client, operator):
        task = task_in_state(S.QUEUED, creator=operator)
        form = client.get(f"/admin/tasks/task/{task.pk}/change/").context["adminform"].form
        assert set(form.fields) == {"title", "priority", "payload", "reference", "labels",
                                    "due_at"}

    def test_an_edit_goes_through_task_update(self, client, operator, monkeypatch):
        from apps.tasks import services

        calls = []
        real = services.task_update
        monkeypatch.setattr(services, "task_update",
                            lambda **kw: calls.append(kw) or real(**kw))
        task = task_in_state(S.QUEUED, creator=operator)
        other = make_task_type("other")
        url = f"/admin/tasks/task/{task.pk}/change/"
        data = form_data(client.get(url), title="Renamed", task_type=other.pk,
                         run_at="2030-01-01 00:00:00")
        assert client.post(url, data).status_code == 302
        task.refresh_from_db()
        assert (task.title, task.task_type_id, task.run_at) == ("Renamed", task.task_type_id,
                                                                None)
        assert task.task_type != other
        assert [c["changes"] for c in calls] == [{"title": "Renamed"}]

    def test_a_finished_task_cannot_be_edited(self, client, operator):
        task = task_in_state(S.COMPLETED, creator=operator)
        form = client.get(f"/admin/tasks/task/{task.pk}/change/").context["adminform"].form
        assert set(form.fields) == set()
