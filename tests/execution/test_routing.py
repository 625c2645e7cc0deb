"""Routing a task to an execution unit: every strategy that serves units picks what it should
over hand-built pools, ties break the same way whatever the input order, and the filters
(room, labels, reported memory and CPU) keep out who cannot take the task. Plain data: no
database, strategies see UnitCandidates only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from apps.assignment.strategies import (
    STRATEGIES,
    RankContext,
    get_strategy,
    strategy_names_for,
)
from apps.execution.routing import (
    UnitCandidate,
    eligible_units,
    pick_unit,
    register_unit_strategies,
    unit_params_errors,
)
from apps.tasks.models import Task, TaskType

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SHARED = ["consistent_hash", "failover", "least_loaded", "least_recently_assigned", "random",
          "round_robin"]
UNIT_ONLY = ["busyover", "first", "health_first", "pull", "sharding_broadcast"]
STAFF_ONLY = ["optimal_batch", "priority_match", "skill_match"]


def unit(pk, uid=None, *, load=0, capacity=4, labels=(), memory=None, cpu=None, last=None):
    return UnitCandidate(pk=pk, unit_id=uid or f"worker-{pk}", capacity=capacity, load=load,
                         labels=list(labels), free_memory_mb=memory, cpu_free=cpu,
                         last_assigned_at=last)


def task(reference="", *, weight=1):
    kind = TaskType(key="doc", name="Doc", assignee_kind="unit", capacity_weight=weight)
    return Task(id=uuid.uuid4(), reference=reference, task_type=kind)


def choose(strategy, pool, *, t=None, params=None, cursor=0):
    chosen, why = pick_unit(t or task(), pool, strategy=strategy, params=params or {},
                            cursor=cursor)
    assert why  # an explanation either way
    return chosen.unit_id if chosen else None


def order(strategy, pool, *, t=None, params=None, cursor=0):
    ctx = RankContext(requirements=[], weight=1, params=params or {}, cursor=cursor)
    return [s.candidate.unit_id for s in get_strategy(strategy).rank(t or task(), pool, ctx)]


# --- which strategies serve units -------------------------------------------------------------
def test_the_registry_says_which_strategies_serve_units_and_which_staff():
    assert strategy_names_for("unit") == sorted(SHARED + UNIT_ONLY)
    assert strategy_names_for("staff") == sorted(SHARED + STAFF_ONLY)
    assert all(STRATEGIES[name].kinds for name in STRATEGIES)


def test_registering_the_unit_strategies_twice_changes_nothing():
    before = dict(STRATEGIES)
    register_unit_strategies()
    assert before == STRATEGIES


@pytest.mark.parametrize("strategy", STAFF_ONLY)
def test_a_staff_only_strategy_routes_no_unit_and_says_why(strategy):
    chosen, why = pick_unit(task(), [unit(1)], strategy=strategy, params={})
    assert chosen is None
    assert strategy in why and "health_first" in why and "least_loaded" in why


def test_an_unknown_strategy_routes_no_unit_and_says_why():
    chosen, why = pick_unit(task(), [unit(1)], strategy="least_laoded", params={})
    assert chosen is None and "Unknown strategy 'least_laoded'" in why


# --- a unit reads like a candidate ------------------------------------------------------------
def test_a_unit_candidate_answers_what_the_shared_strategies_read():
    c = unit(7, "worker-007", load=1, capacity=2)
    assert (c.order_id, c.user_id, c.name, c.meant_for) == (7, 7, "worker-007", "worker-007")
    assert c.key == "unit:worker-007"  # its chosen id: the same ring place after re-registering
    assert (c.skills, c.delegated_from) == ({}, None)
    assert c.fits(1) and not c.fits(2)


@pytest.mark.parametrize("strategy", SHARED)
def test_the_engines_pickers_agree_with_best_on_units(strategy):
    """The engine's batch path (pickers) reads units as well as the one-task path does."""
    pool = [unit(3, load=1), unit(1, load=2), unit(2), unit(4, load=3)]
    ctx = RankContext(requirements=[], weight=1, cursor=2,
                      params={"order": ["worker-4", "worker-2", "worker-1"]})
    s = get_strategy(strategy)
    for t in [task(f"ref-{i}") for i in range(20)]:
        picker = s.picker(pool, ctx)
        assert picker is not None
        assert picker.pick(t, set(), ctx).candidate is s.best(t, pool, ctx).candidate


# --- the shared strategies on units -----------------------------------------------------------
def test_least_loaded_takes_the_lowest_share_of_capacity():
    pool = [unit(1, load=3, capacity=4), unit(2, load=1, capacity=2), unit(3, load=1, capacity=4)]
    assert choose("least_loaded", pool) == "worker-3"
    assert order("least_loaded", pool) == ["worker-3", "worker-2", "worker-1"]


@pytest.mark.parametrize("strategy", sorted(SHARED + UNIT_ONLY))
def test_ties_break_the_same_way_whatever_the_input_order(strategy):
    pool = [unit(3), unit(1), unit(2)]
    params = {"order": ["worker-2", "worker-3", "worker-1"]}
    t = task("same-task")
    first = [order(strategy, pool, t=t, params=params, cursor=1),
             choose(strategy, pool, t=t, params=params, cursor=1)]
    again = [order(strategy, list(reversed(pool)), t=t, params=params, cursor=1),
             choose(strategy, list(reversed(pool)), t=t, params=params, cursor=1)]
    assert first == again


def test_equal_units_go_by_row_id():
    pool = [unit(3), unit(1), unit(2)]
    for strategy in ("least_loaded", "least_recently_assigned", "first", "busyover",
                     "health_first"):
        assert choose(strategy, pool) == "worker-1", strategy


def test_round_robin_continues_after_the_unit_that_had_the_last_turn():
    pool = [unit(30), unit(10), unit(20)]
    assert choose("round_robin", pool, cursor=0) == "worker-10"
    assert choose("round_robin", pool, cursor=10) == "worker-20"
    assert choose("round_robin", pool, cursor=25) == "worker-30"
    assert choose("round_robin", pool, cursor=30) == "worker-10"  # round again


def test_round_robin_skips_a_unit_without_room_and_keeps_the_turns():
    pool = [unit(10), unit(20, load=4), unit(30)]
    assert choose("round_robin", pool, cursor=10) == "worker-30"


def test_random_is_the_same_for_one_task_and_spreads_over_many():
    pool = [unit(1), unit(2), unit(3)]
    t = task()
    assert len({choose("random", pool, t=t) for _ in range(10)}) == 1
    assert {choose("random", pool) for _ in range(200)} == {"worker-1", "worker-2", "worker-3"}


def test_consistent_hash_keeps_a_reference_on_its_unit_while_the_pool_stays():
    pool = [unit(i) for i in range(1, 6)]
    refs = [f"customer-{i}" for i in range(60)]
    owner = {r: choose("consistent_hash", pool, t=task(r)) for r in refs}
    assert owner == {r: choose("consistent_hash", pool, t=task(r)) for r in refs}
    assert len(set(owner.values())) == 5  # spread over every unit


def test_consistent_hash_moves_only_the_references_of_a_unit_that_left():
    pool = [unit(i) for i in range(1, 6)]
    refs = [f"customer-{i}" for i in range(200)]
    before = {r: choose("consistent_hash", pool, t=task(r)) for r in refs}
    after = {r: choose("consistent_hash", pool[:-1], t=task(r)) for r in refs}
    moved = {r for r in refs if before[r] != after[r]}
    assert moved == {r for r in refs if before[r] == "worker-5"}
    assert moved  # it did own some


def test_consistent_hash_keys_a_unit_by_its_chosen_id_not_its_row():
    pool = [unit(1, "alpha"), unit(2, "beta"), unit(3, "gamma")]
    again = [unit(11, "alpha"), unit(12, "beta"), unit(13, "gamma")]  # registered anew
    for r in (f"doc-{i}" for i in range(30)):
        assert choose("consistent_hash", pool, t=task(r)) == choose("consistent_hash", again,
                                                                      t=task(r))


def test_least_recently_assigned_takes_the_unit_that_waited_longest():
    pool = [unit(1, last=T0 + timedelta(minutes=5)), unit(2, last=T0),
            unit(3, last=T0 + timedelta(minutes=1))]
    assert order("least_recently_assigned", pool) == ["worker-2", "worker-3", "worker-1"]
    assert choose("least_recently_assigned", [*pool, unit(4)]) == "worker-4"  # never had work


def test_failover_takes_the_first_live_unit_in_the_configured_order():
    params = {"order": ["worker-2", "worker-1", "worker-3"]}
    pool = [unit(1), unit(2), unit(3)]
    assert choose("failover", pool, params=params) == "worker-2"
    assert choose("failover", [unit(1), unit(3)], params=params) == "worker-1"  # 2 offline
    full = [unit(1), unit(2, load=4), unit(3)]
    assert choose("failover", full, params=params) == "worker-1"  # 2 has no room


def test_failover_never_routes_to_a_unit_left_out_of_the_order():
    chosen, why = pick_unit(task(), [unit(1), unit(3)], strategy="failover",
                            params={"order": ["worker-2"]})
    assert chosen is None
    assert "failover" in why and "worker-1, worker-3" in why


# --- the unit-only strategies -----------------------------------------------------------------
def test_first_takes_the_unit_registered_first():
    assert choose("first", [unit(5), unit(3, load=3), unit(9)]) == "worker-3"


def test_first_follows_a_configured_order_then_registration():
    params = {"order": ["worker-9", "worker-5"]}
    pool = [unit(5), unit(3), unit(9), unit(1)]
    assert order("first", pool, params=params) == ["worker-9", "worker-5", "worker-1",
                                                  "worker-3"]
    # Unlike failover, an unlisted unit still gets work when the listed ones cannot.
    assert choose("first", [unit(3), unit(9, load=4)], params=params) == "worker-3"


def test_health_first_takes_the_most_free_cpu_and_memory():
    pool = [unit(1, cpu=0.9, memory=1000), unit(2, cpu=0.5, memory=8000),
            unit(3, cpu=0.2, memory=2000)]
    # (0.9 + 1000/8000) / 2 = 0.51 < (0.5 + 1) / 2 = 0.75 ; (0.2 + 0.25) / 2 = 0.225
    assert order("health_first", pool) == ["worker-2", "worker-1", "worker-3"]


def test_health_first_puts_units_that_never_reported_last():
    pool = [unit(1), unit(2, cpu=0.1, memory=10), unit(3, cpu=None, memory=None)]
    assert order("health_first", pool) == ["worker-2", "worker-1", "worker-3"]


def test_health_first_breaks_ties_on_load_then_row_id():
    pool = [unit(3, cpu=0.5, memory=100), unit(2, cpu=0.5, memory=100, load=2),
            unit(1, cpu=0.5, memory=100, load=1)]
    assert order("health_first", pool) == ["worker-3", "worker-1", "worker-2"]


def test_busyover_takes_the_first_idle_unit():
    pool = [unit(1, load=1), unit(4), unit(2, load=3), unit(3)]
    assert choose("busyover", pool) == "worker-3"


def test_busyover_takes_the_least_loaded_when_none_is_idle():
    pool = [unit(1, load=3), unit(2, load=2, capacity=8), unit(3, load=1)]
    assert order("busyover", pool) == ["worker-2", "worker-3", "worker-1"]


def test_the_explanation_names_the_strategy_the_unit_and_its_report():
    chosen, why = pick_unit(task(), [unit(1, "gpu-1", load=1, labels=["gpu"], cpu=0.5,
                                          memory=2048), unit(2, load=4)],
                            strategy="least_loaded", params={})
    assert chosen.unit_id == "gpu-1"
    assert why == ("least_loaded: gpu-1 (load 1/4, cpu free 50%, free memory 2048 MB, "
                   "labels gpu), of 1 eligible among 2 online")


# --- filters ----------------------------------------------------------------------------------
def test_only_units_with_room_for_the_tasks_weight_are_eligible():
    pool = [unit(1, load=2, capacity=4), unit(2, load=3, capacity=4), unit(3, capacity=1)]
    assert [c.pk for c in eligible_units(pool, weight=2)] == [1]
    assert [c.pk for c in eligible_units(pool, weight=1)] == [1, 2, 3]
    assert choose("least_loaded", pool, t=task(weight=2)) == "worker-1"


def test_a_unit_must_carry_every_required_label():
    pool = [unit(1, labels=["gpu"]), unit(2, labels=["gpu", "eu", "ssd"]), unit(3, labels=["eu"])]
    assert [c.pk for c in eligible_units(pool, weight=1, labels=["gpu", "eu"])] == [2]
    assert choose("first", pool, params={"labels": ["eu"]}) == "worker-2"


def test_reported_minimums_keep_out_units_below_them_or_silent():
    pool = [unit(1, memory=512, cpu=0.9), unit(2, memory=4096, cpu=0.1),
            unit(3, memory=4096, cpu=0.6), unit(4)]
    assert [c.pk for c in eligible_units(pool, weight=1, min_free_memory_mb=1024)] == [2, 3]
    assert [c.pk for c in eligible_units(pool, weight=1, min_cpu_free=0.5)] == [1, 3]
    assert [c.pk for c in eligible_units(pool, weight=1, min_free_memory_mb=1024,
                                         min_cpu_free=0.5)] == [3]
    assert choose("first", pool, params={"min_free_memory_mb": 1024, "min_cpu_free": 0.5}) \
        == "worker-3"


@pytest.mark.parametrize("strategy", sorted(SHARED + UNIT_ONLY))
def test_no_strategy_routes_to_a_unit_the_filters_keep_out(strategy):
    pool = [unit(1, labels=["gpu"], memory=8000, cpu=1.0), unit(2, load=4, labels=["gpu"]),
            unit(3, labels=["gpu"], memory=100, cpu=1.0), unit(4, memory=8000, cpu=1.0),
            unit(5, labels=["gpu"], memory=4000, cpu=0.5)]
    params = {"labels": ["gpu"], "min_free_memory_mb": 1000,
              "order": ["worker-4", "worker-3", "worker-2", "worker-5", "worker-1"]}
    for t in [task(f"ref-{i}") for i in range(20)]:
        assert choose(strategy, pool, t=t, params=params, cursor=3) in {"worker-1", "worker-5"}


def test_nobody_eligible_says_which_filter_kept_whom_out():
    pool = [unit(1, load=4), unit(2, labels=["gpu"], memory=100), unit(3, labels=["gpu"])]
    chosen, why = pick_unit(task(), pool, strategy="least_loaded",
                            params={"labels": ["gpu"], "min_free_memory_mb": 512})
    assert chosen is None
    assert why == ("no eligible unit among 3 online: 1 without room for weight 1; "
                   "1 without labels gpu; 3 under 512 MB free memory")
    assert pick_unit(task(), [], strategy="least_loaded", params={}) == (
        None, "no online unit of this type")


@pytest.mark.parametrize(("params", "wrong"), [
    ({"labels": "gpu"}, "labels"),
    ({"labels": ["gpu", 3]}, "labels"),
    ({"min_free_memory_mb": -1}, "min_free_memory_mb"),
    ({"min_free_memory_mb": "1G"}, "min_free_memory_mb"),
    ({"min_cpu_free": 50}, "min_cpu_free"),
    ({"min_cpu_free": True}, "min_cpu_free"),
])
def test_filters_that_do_not_parse_are_named(params, wrong):
    [error] = unit_params_errors(params)
    assert error.startswith(wrong)
    chosen, why = pick_unit(task(), [unit(1)], strategy="least_loaded", params=params)
    assert chosen is None and wrong in why


def test_filters_that_parse():
    assert unit_params_errors({"labels": ["gpu"], "min_free_memory_mb": 0,
                               "min_cpu_free": 1, "order": ["x"]}) == []
