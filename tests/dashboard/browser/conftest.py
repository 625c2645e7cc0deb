"""Playwright driving the system Chromium against pytest-django's live server.

Never `playwright install`: it downloads browsers. `make test` installs Debian's `chromium`
when it can (root); without /usr/bin/chromium these tests skip and say why. Screenshots of
every page go to var/artefacts/screenshots/ (gitignored; BROWSER_ARTEFACTS moves it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTEFACTS = Path(os.environ.get(
    "BROWSER_ARTEFACTS",
    Path(__file__).resolve().parents[3] / "var" / "artefacts" / "screenshots"))
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "a browser's password"


if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; `make test` does it "
                "as root)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


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
    # The live server is one client (127.0.0.1) signing in many people, run after run.
    settings.LOGIN_RATE_PER_CLIENT = 10_000
    settings.LOGIN_RATE_PER_USERNAME_CLIENT = 10_000


@pytest.fixture
def shoot():
    """Save a screenshot named after the page; returns its path."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = ARTEFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def with_password(user):
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def sign_in(browser, live_server):
    """A new browser context (its own cookies) signed in as `user` through the form."""
    contexts = []

    def open_as(user, *, viewport=None):
        context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill(with_password(user).get_username())
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/dashboard/")
        return page

    yield open_as
    for context in contexts:
        context.close()
