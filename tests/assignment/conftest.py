"""Fixtures the assignment tests share."""

from __future__ import annotations

import pytest

from tests.builders import make_user


@pytest.fixture
def boss():
    return make_user("margaret", manager=True)
