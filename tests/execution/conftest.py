"""The unit strategies in the registry for each test here, and the registry as it was after."""

from __future__ import annotations

import pytest

from apps.assignment import strategies
from apps.execution.routing import register_unit_strategies


@pytest.fixture(autouse=True)
def unit_strategies():
    # apps.execution.hooks registers them at start-up once the app is installed; until then
    # (and so that no other package's test sees a registry this one changed) each test here
    # registers them and the registry is put back afterwards.
    saved, checks = dict(strategies.STRATEGIES), dict(strategies.PARAMS_CHECKS)
    register_unit_strategies()
    yield
    strategies.STRATEGIES.clear()
    strategies.STRATEGIES.update(saved)
    strategies.PARAMS_CHECKS.clear()
    strategies.PARAMS_CHECKS.update(checks)
