"""Each strategy's choice on hand-built pools (no database: strategies see candidates only)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from apps.assignment.pool import Candidate, Requirement
from apps.assignment.strategies import (
    STRATEGIES,
    RankContext,
    get_strategy,
    strategy_names_for,
)
from apps.tasks.models import Task
from apps.tasks.states import Priority

PY, SQL = Requirement(1, "python", 3), Requirement(2, "sql", 2)


def person(uid, name, *, load=0, capacity=3, seniority=1, rating=3, skills=None, last=None):
    return Candidate(user_id=uid, name=name, load=load, capacity=capacity, seniority=seniority,
                     rating=rating, skills=skills or {1: 3, 2: 2}, last_assigned_at=last)


def task(priority=Priority.NORMAL, reference=""):
    return Task(id=uuid.uuid4(), priority=priority, reference=reference)


def pick(strategy, candidates, *, t=None, **ctx):
    ctx = RankContext(requirements=ctx.pop("requirements", [PY, SQL]), weight=1, **ctx)
    ranked = get_strategy(strategy).rank(t or task(), candidates, ctx)
    return [s.candidate.name for s in ranked]


def test_least_loaded_takes_the_lowest_share_of_capacity():
    pool = [person(1, "ann", load=2, capacity=4), person(2, "ben", load=1, capacity=1),
            person(3, "cat", load=1, capacity=3)]
    assert pick("least_loaded", pool) == ["cat", "ann", "ben"]


def test_ties_break_by_id_whatever_the_input_order():
    pool = [person(3, "cat"), person(1, "ann"), person(2, "ben")]
    assert pick("least_loaded", pool) == ["ann", "ben", "cat"]
    assert pick("least_loaded", list(reversed(pool))) == ["ann", "ben", "cat"]


def test_skill_match_takes_the_best_weighted_coverage():
    pool = [person(1, "ann", skills={1: 5, 2: 2}), person(2, "ben", skills={1: 3, 2: 5})]
    assert pick("skill_match", pool)[0] == "ben"  # 8 of 10 beats 7 of 10
    assert pick("skill_match", pool, params={"weights": {"python": 3}})[0] == "ann"


def test_skill_match_explains_its_choice():
    ranked = get_strategy("skill_match").rank(
        task(), [person(1, "ann", load=1, seniority=4, skills={1: 4, 2: 2})],
        RankContext(requirements=[PY, SQL], weight=1))
    assert ranked[0].explanation.startswith(
        "skill python 4 ≥ 3, skill sql 2 ≥ 2, load 1/3, seniority 4")


def test_priority_match_sends_critical_work_to_the_senior_and_low_work_to_the_free():
    pool = [person(1, "junior", seniority=1, load=0), person(2, "senior", seniority=5, load=2)]
    assert pick("priority_match", pool, t=task(Priority.CRITICAL))[0] == "senior"
    assert pick("priority_match", pool, t=task(Priority.LOW))[0] == "junior"


def test_round_robin_continues_after_the_last_turn():
    pool = [person(1, "ann"), person(5, "ben"), person(9, "cat")]
    assert pick("round_robin", pool, cursor=0)[0] == "ann"
    assert pick("round_robin", pool, cursor=5)[0] == "cat"
    assert pick("round_robin", pool, cursor=9)[0] == "ann"


def test_random_is_repeatable_for_a_task_and_spreads_over_tasks():
    pool = [person(i, f"p{i}") for i in range(1, 6)]
    t = task()
    assert pick("random", pool, t=t) == pick("random", list(reversed(pool)), t=t)
    assert len({pick("random", pool)[0] for _ in range(50)}) > 1


def test_consistent_hash_keeps_a_reference_with_its_person_while_the_pool_holds():
    pool = [person(i, f"p{i}") for i in range(1, 8)]
    first = pick("consistent_hash", pool, t=task(reference="kb-42"))[0]
    assert pick("consistent_hash", pool, t=task(reference="kb-42"))[0] == first
    others = [c for c in pool if c.name != first]
    # someone else leaving does not move it
    assert pick("consistent_hash", [c for c in pool if c.name != others[0].name],
                t=task(reference="kb-42"))[0] == first
    spread = {pick("consistent_hash", pool, t=task(reference=f"kb-{n}"))[0] for n in range(40)}
    assert len(spread) > 3


def test_least_recently_assigned_prefers_never_then_longest_ago():
    pool = [person(1, "ann", last=datetime(2026, 1, 2, tzinfo=UTC)),
            person(2, "ben", last=datetime(2026, 1, 1, tzinfo=UTC)),
            person(3, "cat", last=None)]
    assert pick("least_recently_assigned", pool) == ["cat", "ben", "ann"]


def test_failover_takes_the_first_available_in_the_configured_order():
    pool = [person(1, "ann"), person(2, "ben")]
    assert pick("failover", pool, params={"order": ["zed", "ben", "ann"]}) == ["ben", "ann"]


def test_an_unknown_strategy_is_refused_and_the_registry_has_all_of_them():
    with pytest.raises(ValueError):
        get_strategy("telepathy")
    assert set(STRATEGIES) >= {
        "round_robin", "least_loaded", "skill_match", "priority_match", "random",
        "consistent_hash", "least_recently_assigned", "failover", "optimal_batch"}


@pytest.mark.parametrize("strategy", strategy_names_for("staff"))
def test_best_is_the_first_of_the_ranking(strategy):
    pool = [person(i, f"p{i}", load=i % 3, seniority=(i * 7) % 5 + 1,
                   skills={1: i % 5 + 1, 2: (i * 3) % 5 + 1}) for i in range(1, 12)]
    t = task(Priority.HIGH, reference="kb-1")
    ctx = RankContext(requirements=[PY, SQL], weight=1, params={"order": ["p4", "p2"]})
    ranked = get_strategy(strategy).rank(t, pool, ctx)
    best = get_strategy(strategy).best(t, pool, ctx)
    assert (best.candidate.name, best.score) == (ranked[0].candidate.name, ranked[0].score)
