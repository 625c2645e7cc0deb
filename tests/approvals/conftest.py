"""The two ways a task comes to wait for a decision, with the cast (tests/cast.py): rita
asks, alice does the work, margaret (their manager), amos and olga decide, victor is escalated
to, mallory has nothing to do with any of it."""

from __future__ import annotations

import pytest

from tests.approvals.flows import completion_request, creation_request
from tests.builders import make_task_type


@pytest.fixture
def needs_approval():
    return make_task_type("purchase", requires_creation_approval=True)


@pytest.fixture
def needs_review():
    return make_task_type("report", requires_completion_approval=True)


@pytest.fixture
def asked(rita, needs_approval):
    """rita asked for a purchase that needs approval."""
    return creation_request(by=rita, task_type=needs_approval, title="buy a server")


@pytest.fixture
def submitted(rita, alice, needs_review):
    """rita asked for a report; alice wrote it and submitted it for review."""
    return completion_request(creator=rita, assignee=alice, task_type=needs_review,
                              title="quarterly report")
