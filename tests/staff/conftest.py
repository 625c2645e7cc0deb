"""The people in these tests.

- olga: an admin (operator).
- margaret: manages the platform team; alice and mallory work in it.
- sam: manages the support team; bob works in it.
"""

from __future__ import annotations

import pytest

from tests.builders import make_staff, make_team, make_user


@pytest.fixture
def olga():
    return make_user("olga", admin=True)


@pytest.fixture
def margaret():
    return make_user("margaret")


@pytest.fixture
def sam():
    return make_user("sam")


@pytest.fixture
def platform(margaret):
    return make_team("platform", manager=margaret)


@pytest.fixture
def support(sam):
    return make_team("support", manager=sam)


@pytest.fixture
def alice(platform):
    return make_staff("alice", team=platform, skills={"python": 4, "sql": 3}, capacity=3)


@pytest.fixture
def mallory(platform):
    return make_staff("mallory", team=platform, skills={"python": 2})


@pytest.fixture
def bob(support):
    return make_staff("bob", team=support, skills={"sql": 5})
