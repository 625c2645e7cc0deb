"""Playwright driving the system Chromium against the application served in this process.

Never `playwright install`: it downloads browsers. `make test` installs Debian's `chromium`
when it can (root); without /usr/bin/chromium these tests skip and say why. Screenshots of
every page go to var/artefacts/screenshots/ (gitignored; BROWSER_ARTEFACTS moves it).

Every test reaches the application through one fixture, `site` (its `.url`):

- on PostgreSQL it is uvicorn serving `taskmanage.asgi` (HTTP and the /ws/live/ WebSocket,
  as deployed) on a thread of this process (`Served`): its threads open their own
  connections and see what the test committed, so pages are live and `shoot` insists the
  live socket is connected before it shoots;
- on SQLite it is pytest-django's `live_server` (WSGI, no WebSockets): the test database is
  in memory, and only the live server's thread is handed the test's own connection; a thread
  of uvicorn's pool would find an empty database. There, live updates are simply not
  exercised and a page may show the "Live updates paused — reconnecting…" notice.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTEFACTS = Path(os.environ.get(
    "BROWSER_ARTEFACTS",
    Path(__file__).resolve().parents[3] / "var" / "artefacts" / "screenshots"))
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "a browser's password"
SECONDS = 10_000  # Playwright counts milliseconds
SERVED = connection.vendor == "postgresql"  # else the live server: see the docstring


if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; `make test` does it "
                "as root)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


class Served:
    """uvicorn serving taskmanage.asgi on a thread, stopped and started again on one port
    (a test of the reconnecting notice restarts it as a deploy would)."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        import uvicorn  # here: the SQLite runs never serve through it
        from channels.layers import channel_layers

        from taskmanage.asgi import application

        # A new server is a new event loop: it gets a channel layer of its own, since one
        # stopped with sockets open may leave the layer's receive state bound to its loop
        # (see fresh_channel_layer in tests/conftest.py).
        channel_layers.backends.clear()

        config = uvicorn.Config(application, host="127.0.0.1", port=self.port, lifespan="off",
                                log_level="warning", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn never started"
            time.sleep(0.01)

    def stop(self) -> None:
        # uvicorn closes the open sockets with 1012 (service restart), as a deploy does;
        # forced: keep-alive connections and a unit's long-poll are not waited for.
        self.server.should_exit = self.server.force_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive(), "uvicorn did not stop within 10 s"


@pytest.fixture(scope="module", autouse=True)
def _database_calls_beside_playwright():
    # Playwright's sync API keeps an event loop in this thread; Django then refuses database
    # calls from it as if they were async code. The test's own setup is plain synchronous
    # code. Set for these tests only: left in os.environ, every later subprocess of the same
    # test process (a `check --deploy` among them) would inherit it.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def roomy_login_limits(settings):
    # The server is one client (127.0.0.1) signing in many people, run after run.
    settings.LOGIN_RATE_PER_CLIENT = 10_000
    settings.LOGIN_RATE_PER_USERNAME_CLIENT = 10_000


@pytest.fixture
def site(request, settings) -> Iterator:
    """The application for the browser: `.url`; on PostgreSQL a `Served` (start/stop),
    on SQLite the live server. One per test: starting uvicorn takes a few hundredths of a
    second, and a fresh one holds no socket or thread of the test before."""
    if not SERVED:
        yield request.getfixturevalue("live_server")
        return
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    served = Served()
    served.start()
    yield served
    served.stop()


def wait_live(page) -> None:
    """On a page with live updates, served on PostgreSQL: wait until its socket is open
    (live.js sets html[data-live="on"]), and insist that the notice is empty."""
    if not SERVED or page.locator("#live-notice").count() == 0:
        return
    page.wait_for_selector("html[data-live='on']", state="attached", timeout=SECONDS)
    notice = page.locator("#live-notice").inner_text()
    assert notice == "", f"{page.url} shows {notice!r}"


@pytest.fixture
def shoot():
    """Save a screenshot named after the page; returns its path. On PostgreSQL a page with
    live updates is shot only once its socket is open, so no screenshot shows the
    reconnecting notice unless `notice=True` says it is the subject."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, *, notice: bool = False) -> Path:
        if not notice:
            wait_live(page)
        path = ARTEFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def with_password(user):
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def sign_in(browser, site):
    """A new browser context (its own cookies) signed in as `user` through the form."""
    contexts = []

    def open_as(user, *, viewport=None):
        context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{site.url}/login/")
        page.get_by_label("Username").fill(with_password(user).get_username())
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{site.url}/dashboard/")
        return page

    yield open_as
    for context in contexts:
        context.close()
