"""Routing: which execution unit takes a task, with the assignment engine's strategies.

Units are ranked by the same registry as people (apps.assignment.strategies). A unit pool
is a list of `UnitCandidate`s, small records that read like the engine's `Candidate` to every
strategy that serves units (`kinds` holds "unit"): load, capacity, an id to order and hash
by, a name to list in a failover order, when it last got work. The unit-only strategies
(`first`, `health_first`, `busyover`, `pull`, `sharding_broadcast`) live here, above
apps.assignment, and join the registry through `register_unit_strategies()` (called from
apps.execution.hooks), which also makes `pull` the unit types' default.

`pick_unit` is pure: the caller (services.units_route) reads the online units of the task's
type into `UnitCandidate`s (`candidate_of`), passes the type's policy (strategy, params) and
the round-robin cursor it keeps, and records the choice. Nothing here reads or writes the
database. A `pull` type is never routed: its units take its work as they claim.

Filters come from the task type's `strategy_params`, beside the strategy's own keys:

- `labels`: every one must be among the unit's labels (`["gpu", "eu-west"]`);
- `min_free_memory_mb`: the unit's last reported free memory must be at least this;
- `min_cpu_free`: the unit's last reported free CPU share (0..1) must be at least this.

A `sharding_broadcast` type's params may also say how its sharded tasks end (apps.execution
.sharding): `reduce` (a name in apps.execution.reducers) and `on_shard_failure` (`fail` or
`wait`). All are checked when the type is saved.

The filters belong to the type, not the task: a task's own `labels` are a client's free tags
(search, reports), and reading them as requirements would strand every task tagged with a
word no unit carries. A unit that has not reported a measure does not meet a minimum on it:
nothing shows that it has the room.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apps.assignment.strategies import (
    RankContext,
    Scored,
    Strategy,
    check_strategy_kind,
    get_strategy,
    load_ratio,
    register,
    register_default_strategy,
    register_params_check,
)
from apps.tasks.models import Task
from apps.tasks.states import AssigneeKind

from .reducers import REDUCERS

UNIT = AssigneeKind.UNIT
PULL = "pull"
SHARDING_BROADCAST = "sharding_broadcast"
FILTER_KEYS = ("labels", "min_free_memory_mb", "min_cpu_free")
SHARD_FAILURE_POLICIES = ("fail", "wait")


@dataclass
class UnitCandidate:
    """One online unit as a strategy sees it (the fields the engine's Candidate has, by the
    same names, so the shared strategies rank units without knowing they are units)."""

    pk: int  # the unit's row id: its place in turns and in "first", stable while registered
    unit_id: str  # the id the unit chose ("worker-001"): its name in a failover order
    capacity: int
    load: int  # tasks it holds now (weighted as the engine weighs them)
    labels: list[str] = field(default_factory=list)
    free_memory_mb: float | None = None  # last reported; None: never reported
    cpu_free: float | None = None  # last reported share of CPU free, 0..1
    last_assigned_at: datetime | None = None
    # What the shared strategies read of a person; a unit has no skills, rank or deputy.
    skills: dict[int, int] = field(default_factory=dict)
    seniority: int = 1
    rating: int = 3
    delegated_from: None = None

    @property
    def name(self) -> str:
        return self.unit_id

    @property
    def user_id(self) -> int:
        """The id the engine's pickers test against their excluded ids: the row id."""
        return self.pk

    @property
    def key(self) -> str:
        # By the chosen id, not the row id: a unit that deregisters and registers again
        # under the same id gets a new row but keeps its place on the consistent-hash ring.
        return f"unit:{self.unit_id}"

    @property
    def meant_for(self) -> str:
        return self.unit_id

    @property
    def order_id(self) -> int:
        return self.pk

    def fits(self, weight: int) -> bool:
        return self.load + weight <= self.capacity


# --- filters -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class UnitFilters:
    labels: tuple[str, ...] = ()
    min_free_memory_mb: float | None = None
    min_cpu_free: float | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> UnitFilters:
        """The filters a type's `strategy_params` set (checked when the type is saved, see
        unit_params_errors; a value that slipped past is a ValueError here)."""
        errors = unit_params_errors(params)
        if errors:
            raise ValueError("; ".join(errors))
        return cls(labels=tuple(params.get("labels") or ()),
                   min_free_memory_mb=params.get("min_free_memory_mb"),
                   min_cpu_free=params.get("min_cpu_free"))


def unit_params_errors(params: Mapping[str, Any]) -> list[str]:
    """What is wrong with the routing filters in a unit type's `strategy_params` (the
    assignment policy's check for unit types, registered by register_unit_strategies)."""
    if not isinstance(params, Mapping):
        return ["strategy_params must be an object."]
    errors = []
    labels = params.get("labels")
    if labels is not None and (isinstance(labels, str) or not isinstance(labels, list)
                               or not all(isinstance(x, str) and x for x in labels)):
        errors.append("labels must be a list of non-empty strings.")
    memory = params.get("min_free_memory_mb")
    if memory is not None and not (_number(memory) and memory >= 0):
        errors.append("min_free_memory_mb must be a number of megabytes, at least 0.")
    cpu = params.get("min_cpu_free")
    if cpu is not None and not (_number(cpu) and 0 <= cpu <= 1):
        errors.append("min_cpu_free must be a share of the CPU between 0 and 1.")
    failure = params.get("on_shard_failure")
    if failure is not None and failure not in SHARD_FAILURE_POLICIES:
        errors.append(f"on_shard_failure must be one of {', '.join(SHARD_FAILURE_POLICIES)}.")
    reduce = params.get("reduce")
    if reduce is not None and (not isinstance(reduce, str) or reduce not in REDUCERS):
        errors.append(f"reduce must be one of {', '.join(sorted(REDUCERS))}.")
    return errors


def _number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def eligible_units(
    candidates: Iterable[UnitCandidate], *, weight: int, labels: Iterable[str] = (),
    min_free_memory_mb: float | None = None, min_cpu_free: float | None = None,
) -> list[UnitCandidate]:
    """The units, in the order given, with room for `weight` more (load + weight <=
    capacity), carrying every one of `labels`, and whose last report meets the minimums."""
    needed = set(labels)
    return [c for c in candidates
            if not _shortfalls(c, weight, needed, min_free_memory_mb, min_cpu_free)]


def _shortfalls(c: UnitCandidate, weight: int, needed: set[str],
                memory: float | None, cpu: float | None) -> list[str]:
    """Why `c` cannot take the task (empty: it can), one reason per filter it fails."""
    out = []
    if not c.fits(weight):
        out.append("room")
    if not needed <= set(c.labels):
        out.append("labels")
    if memory is not None and (c.free_memory_mb is None or c.free_memory_mb < memory):
        out.append("memory")
    if cpu is not None and (c.cpu_free is None or c.cpu_free < cpu):
        out.append("cpu")
    return out


def _why_none(candidates: Sequence[UnitCandidate], filters: UnitFilters, weight: int) -> str:
    if not candidates:
        return "no online unit of this type"
    counts = {"room": 0, "labels": 0, "memory": 0, "cpu": 0}
    for c in candidates:
        for reason in _shortfalls(c, weight, set(filters.labels), filters.min_free_memory_mb,
                                  filters.min_cpu_free):
            counts[reason] += 1
    words = {
        "room": f"without room for weight {weight}",
        "labels": f"without labels {', '.join(sorted(filters.labels))}",
        "memory": f"under {filters.min_free_memory_mb:g} MB free memory"
                  if filters.min_free_memory_mb is not None else "",
        "cpu": f"under {filters.min_cpu_free:.0%} CPU free"
               if filters.min_cpu_free is not None else "",
    }
    parts = [f"{n} {words[reason]}" for reason, n in counts.items() if n]
    return f"no eligible unit among {len(candidates)} online: " + "; ".join(parts)


# --- choosing ----------------------------------------------------------------------------------
def pick_unit(
    task: Task, candidates: Sequence[UnitCandidate], *, strategy: str,
    params: Mapping[str, Any] | None, cursor: int = 0, weight: int | None = None,
) -> tuple[UnitCandidate | None, str]:
    """The unit `strategy` chooses for `task` among the eligible `candidates`, and why (or
    None and why nobody: an operator reads it as the task's reason for waiting).

    `cursor` is the row id of the unit that had the last turn (round robin; the caller keeps
    it per task type and stores the chosen unit's `pk` after each pick). `weight` defaults to
    the task type's capacity weight. A strategy that does not serve units, or params that do
    not parse, give None with the reason rather than an exception: the type was checked when
    saved, and a registry changed since must leave its tasks waiting with a reason, not
    fail the batch they are routed in.
    """
    params = dict(params or {})
    refusal = check_strategy_kind(strategy, kind=UNIT)
    if refusal is not None:
        return None, refusal
    try:
        filters = UnitFilters.from_params(params)
    except ValueError as exc:
        return None, f"strategy_params: {exc}"
    weight = task.task_type.capacity_weight if weight is None else weight
    eligible = eligible_units(candidates, weight=weight, labels=filters.labels,
                              min_free_memory_mb=filters.min_free_memory_mb,
                              min_cpu_free=filters.min_cpu_free)
    if not eligible:
        return None, _why_none(candidates, filters, weight)
    ctx = RankContext(requirements=[], weight=weight, params=params, cursor=cursor)
    chosen = get_strategy(strategy).best(task, eligible, ctx)
    if chosen is None:  # failover naming none of the eligible units
        return None, (f"its strategy ({strategy}) chose none of the {len(eligible)} eligible "
                      f"unit(s): {', '.join(sorted(c.unit_id for c in eligible))}")
    return chosen.candidate, explain_unit(chosen.candidate, strategy=strategy,
                                          eligible=len(eligible), online=len(candidates))


def explain_unit(c: UnitCandidate, *, strategy: str, eligible: int, online: int) -> str:
    parts = [f"load {c.load}/{c.capacity}"]
    if c.cpu_free is not None:
        parts.append(f"cpu free {c.cpu_free:.0%}")
    if c.free_memory_mb is not None:
        parts.append(f"free memory {c.free_memory_mb:g} MB")
    if c.labels:
        parts.append(f"labels {', '.join(sorted(c.labels))}")
    return (f"{strategy}: {c.unit_id} ({', '.join(parts)}), "
            f"of {eligible} eligible among {online} online")


# --- unit-only strategies ----------------------------------------------------------------------
def _in_order(ordered: list[UnitCandidate], ctx: RankContext) -> list[Scored]:
    n = len(ordered)
    return [Scored(c, (n - i) / n, ctx) for i, c in enumerate(ordered)]


class First(Strategy):
    """The first unit: those named in params {"order": [unit ids]} in that order, then the
    others by registration (row id). Unlike failover, a unit left out of the order still
    gets work once every listed one is full or gone."""

    name = "first"
    kinds = frozenset({UNIT})

    def rank(self, task, candidates, ctx):
        order = {uid: i for i, uid in enumerate(ctx.params.get("order") or [])}
        last = len(order)
        return _in_order(sorted(candidates, key=lambda c: (order.get(c.unit_id, last), c.pk)),
                         ctx)


class HealthFirst(Strategy):
    """The unit with the most reported free CPU and memory: the mean of its free CPU share
    and its free memory as a share of the pool's most; a measure it never reported counts
    as nothing free. Ties: the lower load share, then the row id."""

    name = "health_first"
    kinds = frozenset({UNIT})

    def rank(self, task, candidates, ctx):
        most_memory = max((c.free_memory_mb or 0.0 for c in candidates), default=0.0)

        def health(c: UnitCandidate) -> float:
            cpu = min(max(c.cpu_free or 0.0, 0.0), 1.0)
            memory = max(c.free_memory_mb or 0.0, 0.0) / most_memory if most_memory > 0 else 0.0
            return (cpu + memory) / 2

        scored = [Scored(c, health(c), ctx) for c in candidates]
        scored.sort(key=lambda s: (-s.score, load_ratio(s.candidate), s.candidate.pk))
        return scored


class Busyover(Strategy):
    """The first idle unit (nothing held, by row id); when every one is busy, the least
    loaded (share of capacity, then row id)."""

    name = "busyover"
    kinds = frozenset({UNIT})

    def rank(self, task, candidates, ctx):
        return _in_order(sorted(candidates, key=lambda c: (
            (0, 0.0, c.pk) if c.load == 0 else (1, load_ratio(c), c.pk))), ctx)


class Pull(Strategy):
    """No routing: the first unit of the type to claim takes the work, most urgent first, as
    far as its free capacity goes (the default for unit types, and the fastest: a claim is
    one statement over the queue). Ranked, it prefers the least loaded."""

    name = PULL
    kinds = frozenset({UNIT})

    def rank(self, task, candidates, ctx):
        return _in_order(sorted(candidates, key=lambda c: (load_ratio(c), c.pk)), ctx)


class ShardingBroadcast(Strategy):
    """Shards spread over the units: shard i goes to the (i mod n)-th eligible unit by
    registration, so n units take n shards one each. A task of the type that is not a shard
    is split first (apps.execution.sharding): into its `shard_count`, or one shard per
    eligible online unit."""

    name = SHARDING_BROADCAST
    kinds = frozenset({UNIT})

    def rank(self, task, candidates, ctx):
        ordered = sorted(candidates, key=lambda c: c.pk)
        if not ordered:
            return []
        start = (task.shard_index or 0) % len(ordered)
        return _in_order(ordered[start:] + ordered[:start], ctx)


UNIT_STRATEGIES: tuple[type[Strategy], ...] = (First, HealthFirst, Busyover, Pull,
                                               ShardingBroadcast)


def register_unit_strategies() -> None:
    """Put the unit-only strategies in the assignment registry, `pull` as a unit type's
    default, and the check of a unit type's routing filters among the policy's checks.
    Idempotent (AppConfig.ready may run twice in tests)."""
    for cls in UNIT_STRATEGIES:
        register(cls)
    register_default_strategy(UNIT, PULL)
    register_params_check(UNIT, unit_params_errors)


# --- a unit, as routing sees it ----------------------------------------------------------------
def candidate_of(unit: Any) -> UnitCandidate:
    """An ExecutionUnit row as a strategy ranks it: what it holds now, and its last reported
    free memory (`free_memory_mb`) and free CPU (`cpu_free` as a share, or `cpu` as percent
    used)."""
    metrics = unit.metrics if isinstance(unit.metrics, dict) else {}
    return UnitCandidate(pk=unit.pk, unit_id=unit.unit_id, capacity=unit.capacity,
                         load=unit.held, labels=list(unit.labels or []),
                         free_memory_mb=_measure(metrics.get("free_memory_mb")),
                         cpu_free=_cpu_free(metrics), last_assigned_at=unit.last_assigned_at)


def _measure(value: Any) -> float | None:
    return float(value) if _number(value) else None


def _cpu_free(metrics: Mapping[str, Any]) -> float | None:
    free = _measure(metrics.get("cpu_free"))
    if free is not None:
        return free
    used = _measure(metrics.get("cpu"))
    return None if used is None else max(0.0, 1.0 - used / 100)
