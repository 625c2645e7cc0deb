"""The people in these tests, and the two ways a task comes to wait for a decision.

- victor: manages the division, the parent team of ops (the manager's manager).
- margaret: manages the ops team; rita and alice work in it.
- rita: a plain staff member who asks for work (the requester of creation approvals).
- alice: a plain staff member who does the work (the assignee, requester of completions).
- amos: a member of the `approvers` group, in no team.
- olga: an admin (superuser).
- mallory: an outsider, staff in another team, with nothing to do with any of it.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from apps.approvals.policies import APPROVERS_GROUP
from tests.approvals.flows import completion_request, creation_request
from tests.builders import make_staff, make_task_type, make_team, make_user


@pytest.fixture
def victor():
    return make_user("victor")


@pytest.fixture
def margaret():
    return make_user("margaret")


@pytest.fixture
def division(victor):
    return make_team("division", manager=victor)


@pytest.fixture
def ops(margaret, division):
    return make_team("ops", manager=margaret, parent=division)


@pytest.fixture
def rita(ops):
    return make_staff("rita", team=ops).user


@pytest.fixture
def alice(ops):
    return make_staff("alice", team=ops, capacity=5).user


@pytest.fixture
def amos():
    user = make_user("amos")
    user.groups.add(Group.objects.get_or_create(name=APPROVERS_GROUP)[0])
    return user


@pytest.fixture
def olga():
    return make_user("olga", admin=True)


@pytest.fixture
def mallory():
    return make_staff("mallory", team=make_team("sales")).user


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
