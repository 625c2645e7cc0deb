"""Schedules, workflows and dead letters in a real browser: a manager triggers a schedule,
reads a workflow's graph drawn in SVG with steps in several states (and, served with its
WebSocket, a step's node following its task live), and replays a dead letter.
Screenshots 20-24 are kept; the pages also fit a phone's width."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.core.actors import Actor
from apps.schedules.models import Spawn
from apps.tasks.services import task_complete
from apps.tasks.states import TaskStatus
from tests.builders import make_task_type, task_in_state
from tests.schedules.conftest import make_schedule
from tests.workflows.conftest import complete, create, fail, graph_body, ids, start

pytestmark = pytest.mark.django_db(transaction=True)
S = TaskStatus


@pytest.fixture
def ops(rita, alice):
    """A schedule, a workflow part done (completed, running, failed, and steps waiting), and
    a dead letter."""
    report = make_task_type("report")
    make_task_type("step", max_retries=0)
    schedule = make_schedule(report, name="Nightly report", cron="0 2 * * *",
                             timezone="Europe/Berlin")
    make_schedule(report, name="Hourly sync", interval_seconds=3600, overlap="skip")
    created = create(rita, graph_body(
        [("extract", "clean"), ("extract", "enrich"), ("clean", "load"), ("enrich", "load"),
         ("load", "report")], name="Nightly ETL", on_failure="cancel_downstream"))
    task = ids(created)
    complete(task["extract"], alice)
    start(task["clean"], alice)
    fail(task["enrich"], alice)
    letter = task_in_state(S.FAILED, creator=rita, assignee=alice,
                           task_type=make_task_type("export"), title="Export the ledger",
                           error="disk full")
    return schedule, created["id"], task, letter


def test_a_manager_triggers_a_schedule_reads_a_graph_and_replays_a_dead_letter(
        site, sign_in, shoot, margaret, alice, ops):
    schedule, workflow_id, task, letter = ops
    page = sign_in(margaret)
    nav = page.get_by_role("navigation", name="Main")

    nav.get_by_role("link", name="Schedules").click()
    page.wait_for_url("**/schedules/")  # a click starts the navigation; wait for the page
    assert page.get_by_role("heading", name="Schedules").is_visible()
    assert "cron 0 2 * * *" in page.locator(f'tr[data-schedule="{schedule.pk}"]').inner_text()
    shoot(page, "20-schedules")
    page.get_by_role("link", name="Nightly report").click()
    page.wait_for_url(f"**/schedules/{schedule.pk}/")
    assert page.locator(".next-runs li").count() == 5
    page.get_by_role("button", name="Trigger now").click()
    assert "Nightly report: triggered now." in page.locator(".messages").inner_text()
    spawned = Spawn.objects.get(schedule=schedule).task
    assert page.get_by_role("link", name=spawned.title).is_visible()
    shoot(page, "21-schedule")

    nav.get_by_role("link", name="Workflows").click()
    page.wait_for_url("**/workflows/")
    assert "1/5" in page.locator("tbody tr", has_text="Nightly ETL").inner_text()
    shoot(page, "22-workflows")
    page.get_by_role("link", name="Nightly ETL").click()
    page.wait_for_url(f"**/workflows/{workflow_id}/")
    nodes = page.locator("svg.wf-graph g.wf-node")
    assert nodes.count() == 5
    states = {nodes.nth(i).get_attribute("data-key"): nodes.nth(i).get_attribute("data-status")
              for i in range(5)}
    # enrich failed: what waits for it is cancelled (on_failure=cancel_downstream).
    assert states == {"extract": "completed", "clean": "running", "enrich": "failed",
                      "load": "cancelled", "report": "cancelled"}
    fill = {key: page.locator(f'g.wf-node[data-key="{key}"] rect').evaluate(
        "r => getComputedStyle(r).fill") for key in ("extract", "clean", "enrich")}
    assert len(set(fill.values())) == 3, fill  # coloured by state (and the state written in)
    assert page.locator("svg.wf-graph .wf-edges path").count() == 5
    shoot(page, "23-workflow-graph")

    # A step finishes while the graph is open: its node follows without a reload (on
    # PostgreSQL, where the site is served with its WebSocket; see conftest.py).
    if connection.vendor == "postgresql":
        clean = page.locator('svg.wf-graph g.wf-node[data-key="clean"]')
        before = clean.locator("rect").evaluate("r => getComputedStyle(r).fill")
        page.evaluate("window.notReloaded = true")
        task_complete(task_id=task["clean"], result=None, by=Actor.for_user(alice))
        page.wait_for_selector('g.wf-node[data-key="clean"][data-status="completed"]',
                               state="attached")
        assert clean.locator(".wf-status").text_content() == "Completed"
        after = clean.locator("rect").evaluate("r => getComputedStyle(r).fill")
        assert after != before and after == fill["extract"], (before, after)
        assert page.evaluate("window.notReloaded") is True
    page.locator('g.wf-node[data-key="enrich"] a').click()
    page.wait_for_url(f"**/tasks/{task['enrich']}/")

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Dead letters").click()
    page.wait_for_url("**/dead-letters/")
    row = page.locator("tbody tr", has_text="Export the ledger")
    assert "disk full" in row.inner_text()
    shoot(page, "24-dead-letters")
    row.get_by_role("button", name="Replay").click()
    assert "1 replayed (back to the queue)." in page.locator(".messages").inner_text()
    assert page.locator("tbody tr", has_text="Export the ledger").count() == 0
    letter.refresh_from_db()
    assert letter.status != S.FAILED

    # The same pages on a phone: nothing scrolls sideways but the graph inside its own box.
    phone = sign_in(margaret, viewport={"width": 375, "height": 740})
    for path in ("/schedules/", "/workflows/", "/dead-letters/", f"/workflows/{workflow_id}/"):
        phone.goto(f"{site.url}{path}")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways on a phone: {width}px"
