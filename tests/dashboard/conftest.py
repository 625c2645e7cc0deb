"""Helpers for the pages' tests: a signed-in browser-like client, and reading a page."""

from __future__ import annotations

import re

import pytest
from django.test import Client


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def buttons(html: str) -> list[str]:
    """The task transitions a page offers (the buttons of its actions form)."""
    return re.findall(r'name="action" value="([a-z_]+)"', html)


def decisions(html: str) -> list[str]:
    return re.findall(r'name="decision" value="([a-z_]+)"', html)


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture(autouse=True)
def no_shared_figures():
    """Each test counts from its own rows: the dashboard's shared figures, the ended-counts
    snapshot and the status samples live in the Redis cache, past one test's rollback."""
    from apps.dashboard.selectors import forget_system_figures
    from apps.stats.selectors import forget_ended_counts, forget_status_samples

    def forget():
        forget_system_figures()
        forget_ended_counts()
        forget_status_samples()

    forget()
    yield
    forget()


@pytest.fixture
def as_user():
    return signed_in
