"""Live updates in a real browser: a task page open while the reference execution unit works
the task shows its status and log lines as they happen; an outsider's socket hears nothing of
it; a socket the server drops is announced, retried and the notice goes once it is back.

The application is served as deployed (taskmanage.asgi: HTTP on its thread pool, WebSockets
through Channels) by uvicorn on a thread of this process, against this test's database: the
package's `site` fixture on PostgreSQL (conftest.py); the unit (clients/python) runs on
threads of this process too, through HTTP like any unit.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from taskmanage_client.unit import Registry, UnitRunner
from taskmanage_client.unit.runner import connect

from apps.accounts.services import token_issue
from apps.core.actors import Actor
from apps.tasks import services
from apps.tasks.states import AssigneeKind
from tests.builders import create_task, make_task_type

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="the served application's threads need a shared database"),
]
SECONDS = 10_000  # Playwright counts milliseconds
NOTICE = "Live updates paused — reconnecting…"


@pytest.fixture
def open_as(browser, site):
    """A browser page on the served application, signed in as `user` (a session cookie, as
    the sign-in form would leave: signing in is tested in test_pages_in_a_browser.py)."""
    contexts = []

    def opened(user, path: str, *, frames: list | None = None):
        client = Client()
        client.force_login(user)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": site.url,
                              "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])
        page = context.new_page()
        page.set_default_timeout(SECONDS)
        if frames is not None:  # every frame the page's sockets receive
            page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
        page.goto(f"{site.url}{path}")
        page.wait_for_selector("html[data-live='on']", state="attached")
        return page

    yield opened
    for context in contexts:
        context.close()


class Unit:
    """The reference unit on threads of this process, its one handler held by the test."""

    def __init__(self, admin) -> None:
        self.admin, self.release, self.runner = admin, threading.Event(), None
        self.handlers = Registry()

        @self.handlers.handler("convert")
        def convert(job):
            job.progress(50)
            job.log("read 3 pages")
            self.release.wait(SECONDS / 1000)
            return {"pages": 3}

    def start(self, url: str, unit_type: str) -> None:
        client = connect(url, unit_id="live-unit", unit_type=unit_type, capacity=1,
                         token=token_issue(user=self.admin)[1])
        self.runner = UnitRunner(
            client, unit_id="live-unit", unit_type=unit_type, handlers=self.handlers,
            handler_for={unit_type: "convert"}, heartbeat_every=0.5, claim_wait=1,
            progress_every=0.1, grace=1)
        self.runner.start()

    def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            self.runner.stop()
            self.runner.stop()  # twice: no grace for a claim under way
            self.runner.shutdown()
            self.runner = None


@pytest.fixture
def unit(olga):
    unit = Unit(olga)
    yield unit
    unit.stop()


def test_the_task_page_follows_the_unit_at_work_the_outsider_hears_nothing_and_a_drop_shows(
        open_as, site, unit, shoot, rita, mallory):
    # One test for the three, as one browser session: each transactional test costs seconds.
    task_type = make_task_type("live_convert", assignee_kind=AssigneeKind.UNIT)
    task = create_task(by=rita, task_type=task_type, title="Convert the annual report")
    page = open_as(rita, f"/tasks/{task.pk}/")
    assert page.locator("#task-status").inner_text() == "Queued"
    heard_by_outsider: list = []
    outsider = open_as(mallory, "/tasks/", frames=heard_by_outsider)

    unit.start(site.url, task_type.key)

    status, log = page.locator("#task-status"), page.locator("pre.log")
    page.wait_for_function("document.querySelector('#task-status').textContent === 'Running'")
    page.wait_for_function(
        "document.querySelector('pre.log').textContent.includes('read 3 pages')")
    page.wait_for_function("document.querySelector('progress').value === 50")
    assert log.is_visible() and not page.get_by_text("No log lines yet.").is_visible()
    assert page.locator(".live-actions-note").is_visible()  # the buttons may be out of date
    shoot(page, "20-task-live-running")
    unit.release.set()
    page.wait_for_function(
        "document.querySelector('#task-status').textContent === 'Completed'")
    assert status.get_attribute("class") == "status status-completed"
    assert page.locator("progress").evaluate("bar => bar.value") == 100
    assert page.locator("[data-live-task]").first.get_attribute("data-status") == "completed"

    unit.stop()
    # The outsider's socket works: she hears of her own task, after all of the above.
    own = create_task(by=mallory, task_type=make_task_type("live_other"), title="Hers")
    services.task_transition(task_id=own.pk, action="cancel", by=Actor.for_user(mallory))
    deadline = time.monotonic() + SECONDS / 1000
    while not any(str(own.pk) in str(f) for f in heard_by_outsider):
        assert time.monotonic() < deadline, "the outsider's socket heard nothing at all"
        outsider.wait_for_timeout(50)  # Playwright delivers the frames while it waits
    assert [f for f in heard_by_outsider if str(task.pk) in str(f)] == []

    # The server goes away (a deploy): the page says so, retries, and clears it once back.
    notice = page.get_by_role("status").filter(has_text="Live updates")
    site.stop()
    notice.wait_for()
    assert notice.inner_text() == NOTICE
    shoot(page, "21-task-live-reconnecting", notice=True)
    site.start()
    page.wait_for_selector("html[data-live='on']", state="attached")
    assert page.locator("#live-notice").inner_text() == ""
