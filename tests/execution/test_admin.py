"""Units in the admin: read-only pages, status changes through the services' bulk actions."""

from __future__ import annotations

import pytest

from apps.execution import subscribers
from apps.execution.models import ExecutionUnit, UnitQueue
from tests.admin_forms import form_data
from tests.execution.conftest import register

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client, olga):
    client.force_login(olga)
    return olga


def act(client, action: str, *units) -> str:
    response = client.post("/admin/execution/executionunit/", {
        "action": action, "_selected_action": [u.pk for u in units]}, follow=True)
    return response.content.decode()


def test_units_are_drained_and_undrained_in_bulk(client, operator, docs):
    online, _ = register("worker-001")
    draining, _ = register("worker-002")
    ExecutionUnit.objects.filter(pk=draining.pk).update(status="draining")

    page = act(client, "drain_selected", online, draining)

    assert "1 unit draining." in page and "1 unit skipped: not online." in page
    assert set(ExecutionUnit.objects.values_list("status", flat=True)) == {"draining"}
    assert "2 units online again." in act(client, "undrain_selected", online, draining)


def test_only_an_offline_unit_is_deregistered(client, operator, docs):
    online, _ = register("worker-001")
    offline, _ = register("worker-002")
    ExecutionUnit.objects.filter(pk=offline.pk).update(status="offline")

    page = act(client, "deregister_selected", online, offline)

    assert "1 unit deregistered." in page
    assert list(ExecutionUnit.objects.values_list("unit_id", flat=True)) == ["worker-001"]


def test_the_unit_list_shows_load_and_the_page_is_read_only(client, operator, docs):
    unit, _ = register("worker-001", capacity=4)

    listing = client.get("/admin/execution/executionunit/").content.decode()
    page = client.get(f"/admin/execution/executionunit/{unit.pk}/change/").content.decode()

    assert '<progress value="0" max="4"' in listing
    assert 'name="_save"' not in page
    assert client.post(f"/admin/execution/executionunit/{unit.pk}/change/",
                       {}).status_code == 403  # no stale held or status written back
    assert client.get("/admin/execution/executionunit/add/").status_code == 403


def test_a_unit_types_queue_is_paused_and_limited_from_its_type_page(
        client, operator, docs, monkeypatch, django_capture_on_commit_callbacks):
    woken = []
    monkeypatch.setattr(subscribers.wake_ups, "put", woken.append)
    url = f"/admin/tasks/tasktype/{docs.pk}/change/"
    data = form_data(client.get(url), **{"unit_queue-0-paused": "on",
                                         "unit_queue-0-max_running": 3})
    resp = client.post(url, data)
    assert resp.status_code == 302, resp.context["errors"] if resp.context else resp
    queue = UnitQueue.objects.get(task_type=docs)
    assert (queue.paused, queue.max_running) == (True, 3)

    # Resumed through the same service: the units waiting for the type's work are woken.
    data = form_data(client.get(url))
    data.pop("unit_queue-0-paused")  # an unticked box is not sent
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(url, data)
    assert resp.status_code == 302, resp.context["errors"] if resp.context else resp
    assert UnitQueue.objects.get(task_type=docs).paused is False
    assert woken == ["docs"]


def test_a_bad_running_limit_is_a_form_error_and_nothing_is_saved(client, operator, docs):
    url = f"/admin/tasks/tasktype/{docs.pk}/change/"
    resp = client.post(url, form_data(client.get(url), **{"unit_queue-0-max_running": 0}))
    assert resp.status_code == 200  # the form again, with the error
    assert "greater than or equal to 1" in resp.content.decode()
    assert not UnitQueue.objects.filter(task_type=docs).exists()
