"""The cast: the same people in every test package, each with one part to play.

Every person is a fixture returning a **User**; a member of staff's record is `user.staff`.
Asking for a person brings their team, and a team brings its manager (and its parent team).

- olga: an admin (superuser): the operator.
- victor: manages the division, the parent team of platform (the manager's manager, whom
  overdue approvals escalate to).
- margaret: manages the platform team, and is in the `managers` group: a manager, who may act
  on any task. Not staff herself.
- alice: staff in platform, the one who does the work: python 4, sql 3, capacity 3.
- rita: staff in platform, the one who asks for work (she requests creation approvals):
  python 2, capacity 3.
- sam: manages the support team. Not staff himself.
- bob: staff in support: sql 5, capacity 3.
- amos: in the `approvers` group, in no team, not staff.
- mallory: the outsider who must not get in: staff in the sales team (which nobody manages),
  no skills, with nothing to do with anything.

Teams: division (victor), platform (margaret; inside division), support (sam), sales (nobody).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from apps.approvals.policies import APPROVERS_GROUP
from tests.builders import make_staff, make_team, make_user


# --- teams -----------------------------------------------------------------------------------
@pytest.fixture
def division(victor):
    return make_team("division", manager=victor)


@pytest.fixture
def platform(margaret, division):
    return make_team("platform", manager=margaret, parent=division)


@pytest.fixture
def support(sam):
    return make_team("support", manager=sam)


@pytest.fixture
def sales():
    return make_team("sales")


# --- people ----------------------------------------------------------------------------------
@pytest.fixture
def olga():
    return make_user("olga", admin=True)


@pytest.fixture
def victor():
    return make_user("victor")


@pytest.fixture
def margaret():
    return make_user("margaret", manager=True)


@pytest.fixture
def alice(platform):
    return make_staff("alice", team=platform, skills={"python": 4, "sql": 3}, capacity=3).user


@pytest.fixture
def rita(platform):
    return make_staff("rita", team=platform, skills={"python": 2}).user


@pytest.fixture
def sam():
    return make_user("sam")


@pytest.fixture
def bob(support):
    return make_staff("bob", team=support, skills={"sql": 5}).user


@pytest.fixture
def amos():
    user = make_user("amos")
    user.groups.add(Group.objects.get_or_create(name=APPROVERS_GROUP)[0])
    return user


@pytest.fixture
def mallory(sales):
    return make_staff("mallory", team=sales).user
