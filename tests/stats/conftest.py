"""Each test counts from its own rows: the ended-counts snapshot (kept in the shared Redis
cache) must not carry one test's figures into the next."""

from __future__ import annotations

import pytest

from apps.stats.selectors import forget_ended_counts


@pytest.fixture(autouse=True)
def no_snapshot():
    forget_ended_counts()
    yield
    forget_ended_counts()
