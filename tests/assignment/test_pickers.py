"""The engine's pickers answer exactly what each strategy's `best` answers over the pool's
members that still fit, task after task, as the batch fills people up (no database)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from apps.assignment.pool import Candidate, Requirement
from apps.assignment.strategies import (
    RankContext,
    Strategy,
    get_strategy,
    strategy_names_for,
)
from apps.tasks.models import Task

PY, SQL = Requirement(1, "python", 3), Requirement(2, "sql", 2)
# The strategies that rank people (the units' own are tested on units, tests/execution).
BUILT_IN = strategy_names_for("staff")


def random_pool(rng: random.Random, size: int) -> list[Candidate]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    pool = [
        Candidate(user_id=uid, name=f"p{uid}", load=rng.randint(0, 2),
                  capacity=rng.randint(2, 6), seniority=rng.randint(1, 5),
                  rating=rng.randint(1, 5), skills={1: rng.randint(3, 5), 2: rng.randint(2, 5)},
                  # few distinct values, so ties are common and must break the same way
                  last_assigned_at=rng.choice([None, start, start + timedelta(hours=1)]))
        for uid in rng.sample(range(1, 10 * size), size)
    ]
    # A substitute standing in for someone on leave: another entry with the same user id
    # but another turn (order id).
    sub = rng.choice(pool)
    pool.append(Candidate(**{**sub.__dict__, "delegated_from": (10**6 + sub.user_id, "away")}))
    return pool


@pytest.mark.parametrize("strategy", BUILT_IN)
@pytest.mark.parametrize("seed", range(6))
def test_a_picker_agrees_with_best_over_whoever_still_fits(strategy, seed):
    rng = random.Random(seed)
    weight = rng.choice([1, 2])
    pool = [c for c in random_pool(rng, rng.randint(1, 25)) if c.fits(weight)]
    names = [c.meant_for for c in pool]
    ctx = RankContext(requirements=[PY, SQL], weight=weight,
                      params={"order": rng.sample(names, min(4, len(names))) + ["zed"],
                              "weights": {"python": rng.randint(1, 3)}})
    s = get_strategy(strategy)
    picker = s.picker(pool, ctx)
    assert picker is not None, "every built-in strategy has a picker"
    live = list(pool)
    for n in range(60):
        task = Task(id=uuid.uuid4(), priority=rng.randint(0, 3),
                    reference=rng.choice(["", f"kb-{rng.randint(1, 5)}"]))
        excluded = set(rng.sample([c.user_id for c in pool], min(2, len(pool)))
                       if n % 3 == 0 else ())
        expected = s.best(task, [c for c in live if c.user_id not in excluded], ctx)
        got = picker.pick(task, excluded, ctx)
        if expected is None:
            assert got is None
            continue
        assert got is not None
        assert (got.candidate, got.score) == (expected.candidate, expected.score), n
        # The planner's side: the choice takes capacity (and so, now and then, does someone
        # else, through another pool); whoever is full is dropped.
        takers = [got.candidate] + ([rng.choice(pool)] if n % 4 == 0 else [])
        for c in takers:
            for entry in pool:
                if entry.user_id == c.user_id:
                    entry.load += weight
        ctx.cursor = got.candidate.order_id
        for c in [c for c in live if not c.fits(weight)]:
            live.remove(c)
            picker.drop(c)


def test_a_changed_strategy_gets_the_generic_path_not_its_parents_picker():
    class Busiest(type(get_strategy("least_loaded"))):
        name = "busiest_for_test"

        def score(self, task, c, ctx):
            return c.load

    ctx = RankContext(requirements=[], weight=1)
    assert Busiest().picker([], ctx) is None
    assert Strategy().picker([], ctx) is None
