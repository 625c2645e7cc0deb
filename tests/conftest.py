"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

# The same people in every package (tests/cast.py).
pytest_plugins = ["tests.cast"]


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # The production hashers are slow on purpose; tests create and check many passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_ended_counts_snapshot():
    # The ended-counts snapshot lives in the shared Redis cache, not in the rolled-back
    # database: one test's counts must not stand for the next one's rows.
    from apps.tasks.selectors import forget_ended_counts

    forget_ended_counts()


@pytest.fixture(autouse=True)
def fresh_task_type_cache():
    # Each test's rows are rolled back; a type cached by one test must not outlive it.
    from apps.tasks.selectors import forget_task_types

    forget_task_types()
    yield
    forget_task_types()


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets a channel layer that no earlier event loop has touched.

    The layer is a per-process singleton whose receive state (a lock, a count of receivers,
    the loop they run on) belongs to the event loop that first waits on it. A loop that ends
    with a receive still pending (a uvicorn thread stopped with sockets open, a communicator
    whose test failed) leaves that state behind, and the next loop to receive on the layer
    fails with "bound to a different event loop": a later, unrelated test's socket breaks.
    In production one process runs one loop, so only tests meet this."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


_SESSION_STARTED = time.time()


def pytest_terminal_summary(terminalreporter):
    """Say where the browser tests' screenshots are (tests/dashboard/browser/conftest.py)."""
    folder = Path(os.environ.get("BROWSER_ARTEFACTS",
                                 Path(__file__).resolve().parents[1] / "var" / "artefacts"
                                 / "screenshots"))
    fresh = [p for p in folder.glob("*.png") if p.stat().st_mtime >= _SESSION_STARTED]
    if fresh:
        terminalreporter.write_line(f"browser screenshots ({len(fresh)}): {folder}")
