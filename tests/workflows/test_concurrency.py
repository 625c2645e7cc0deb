"""Two last dependencies completing at the same moment, in two transactions: their dependant
is released by one of them at once, not left for the sweep."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.core.actors import Actor
from apps.tasks.services import task_complete
from tests.concurrency import race
from tests.workflows.conftest import complete, create, graph_body, ids, start, status

DIAMOND = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrent transactions")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(5))
def test_two_last_dependencies_completing_at_once_release_their_dependant(
        rita, alice, bob, step, attempt):
    t = ids(create(rita, graph_body(DIAMOND)))
    complete(t["a"], alice)
    start(t["b"], alice)
    start(t["c"], bob)  # two holders: their loads' rows do not serialise the two completions
    holders = [alice, bob]
    outcomes = race(2, lambda i: task_complete(task_id=t["bc"[i]],
                                               by=Actor.for_user(holders[i])))
    assert not any(isinstance(o, Exception) for o in outcomes), outcomes
    assert status(t["d"]) == "queued"
