"""The staff workload and units pages in a real browser: an admin reads both, opens a unit
and drains it with the button; both pages fit a phone. Screenshots are kept."""

from __future__ import annotations

import uuid

import pytest

from apps.core.actors import Actor
from apps.execution import beats
from apps.execution import services as unit_services
from apps.execution.models import ExecutionUnit, UnitStatus
from apps.tasks.states import TaskStatus
from tests.builders import make_leave, make_task_type, task_in_state

pytestmark = pytest.mark.django_db(transaction=True)
S = TaskStatus


@pytest.fixture(autouse=True)
def own_heartbeat_keys(settings):
    settings.UNITS_KEY_PREFIX = f"tm:test:{uuid.uuid4().hex}:"
    beats.reset_client()
    yield
    beats.reset_client()


@pytest.fixture
def floor(rita, alice, bob):
    """A team at work, and two units, one of them heard from a moment ago."""
    kind = make_task_type("triage")
    task_in_state(S.RUNNING, creator=rita, assignee=alice, task_type=kind, title="Triage")
    task_in_state(S.ASSIGNED, creator=rita, assignee=bob, task_type=kind, title="Label")
    make_leave(rita.staff, days_from_now=3, days=5, reason="holiday")
    docs = make_task_type("document_processing", assignee_kind="unit")
    for unit_id, labels in (("worker-001", ["gpu"]), ("worker-002", [])):
        unit = unit_services.unit_register(
            unit_id=unit_id, by=Actor.system("tests"), may_rotate=True,
            unit_type="document_processing", capacity=4, labels=labels).unit
        beats.record(unit.pk, load=1, metrics={"version": "1.2.0"})
    task_in_state(S.QUEUED, creator=rita, task_type=docs, title="Scan the invoices")
    first = ExecutionUnit.objects.get(unit_id="worker-001")
    unit_services.tasks_claim(unit=first, max_tasks=1,
                              by=unit_services.unit_actor(unit=first))
    unit_services.units_sweep()  # the heartbeats' metrics persisted, as every second


def test_an_admin_reads_staff_and_units_and_drains_a_unit(site, sign_in, shoot, olga,
                                                         floor):
    page = sign_in(olga)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Staff", exact=True).click()
    assert page.get_by_role("heading", name="Staff workload").is_visible()
    assert page.locator("tr[data-person]").count() == 3
    assert "1 of 3" in page.locator("tr[data-person=alice] [data-field=load]").inner_text()
    shoot(page, "10-staff")

    nav.get_by_role("link", name="Units", exact=True).click()
    status = page.locator('[data-live-unit="worker-001"]')
    assert status.get_attribute("data-status") == "online"
    assert "ago" in page.locator("tr[data-unit=worker-001] [data-field=heard]").inner_text()
    shoot(page, "11-units")

    assert "1.2.0" in page.locator("tr[data-unit=worker-001]").inner_text()
    page.get_by_role("link", name="worker-001").click()
    held = page.locator("[data-live-task]", has_text="Scan the invoices")
    assert held.get_attribute("data-status") == "running"
    page.get_by_label("Reason").fill("kernel update")
    page.get_by_role("button", name="Drain").click()
    assert "worker-001 is draining" in page.locator(".messages").inner_text()
    assert page.locator("#unit-status [data-live-unit]").get_attribute("data-status") \
        == "draining"
    assert page.get_by_role("button", name="Undrain").is_visible()
    shoot(page, "12-unit")
    assert ExecutionUnit.objects.get(unit_id="worker-001").status == UnitStatus.DRAINING

    page.set_viewport_size({"width": 375, "height": 740})
    for path in ("/staff/", "/units/"):
        page.goto(f"{site.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways on a phone: {width}px"
