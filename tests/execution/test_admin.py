"""Units in the admin: read-only pages, status changes through the services' bulk actions."""

from __future__ import annotations

import pytest

from apps.execution.models import ExecutionUnit
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
