"""Assignment strategies: a registry of small classes, resolved by the name a task type stores.

A strategy ranks candidates for one task, best first, each with a score and an explanation a
manager can read. Ties always break the same way (by score, then the candidate's id), so the
same pool gives the same answer. A project adds its own with `@register`.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import heapq
import random
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

from apps.tasks.models import Task
from apps.tasks.states import AssigneeKind, Priority

from .models import default_strategy_for, register_default_strategy  # noqa: F401 (re-export)
from .pool import Candidate, Requirement


@dataclass
class Scored:
    candidate: Candidate
    score: float
    ctx: RankContext | None = field(default=None, repr=False)
    note: str = ""

    @property
    def explanation(self) -> str:
        # Built on demand: a batch ranks hundreds of people per task but explains one.
        text = explain(self.candidate, self.ctx, self.score) if self.ctx else ""
        return f"{text} {self.note}".strip()


@dataclass
class RankContext:
    requirements: list[Requirement]
    weight: int
    params: dict[str, Any] = field(default_factory=dict)
    cursor: int = 0  # round robin: the user id that had the last turn


class Strategy:
    name: ClassVar[str]
    # How the engine treats the strategy, read from the class rather than from its name:
    # `plans_batch`, the whole batch is planned at once (apps.assignment.optimal) before the
    # rest goes one by one; `keeps_cursor`, where the last turn stopped is kept per task type
    # between batches (RoundRobinCursor) and handed over as RankContext.cursor.
    plans_batch: ClassVar[bool] = False
    keeps_cursor: ClassVar[bool] = False
    # Which assignees it can rank (AssigneeKind values): a task type of another kind may not
    # pick it (check_strategy_kind). A strategy reading staff-only data (skill levels,
    # seniority, rating) serves staff alone; one reading only load, capacity, ids, turns and
    # hand-over times serves units too. Unsaid, staff: what every strategy was written for
    # before units came, and the safe side (a unit type refusing it at save time, not a
    # batch ranking units on skills they never have).
    kinds: ClassVar[frozenset[str]] = frozenset({AssigneeKind.STAFF})

    def rank(self, task: Task, candidates: list[Candidate], ctx: RankContext) -> list[Scored]:
        scored = [Scored(c, self.score(task, c, ctx), ctx) for c in candidates]
        scored.sort(key=lambda s: (-s.score, *self.tie_break(s.candidate)))
        return scored

    def best(self, task: Task, candidates: list[Candidate], ctx: RankContext) -> Scored | None:
        """The first of `rank`, found without sorting everyone (the engine's hot path)."""
        if not candidates:
            return None
        if type(self).rank is not Strategy.rank:  # an ordering strategy: rank decides
            ranked = self.rank(task, candidates, ctx)
            return ranked[0] if ranked else None  # failover may list none of them
        scored = ((self.score(task, c, ctx), c) for c in candidates)
        score, c = min(scored, key=lambda sc: (-sc[0], *self.tie_break(sc[1])))
        return Scored(c, score, ctx)

    def picker(self, candidates: Sequence[Candidate], ctx: RankContext) -> Picker | None:
        """A `Picker` answering `best` for task after task over this pool, or None when the
        strategy has none (the engine then calls `best` with the pool's members each time).
        A strategy inherited from and changed may no longer match its parent's picker, so
        the built-in ones offer theirs only to themselves (see `_own`)."""
        return None

    def score(self, task: Task, c: Candidate, ctx: RankContext) -> float:
        raise NotImplementedError

    def tie_break(self, c: Candidate) -> tuple:
        return (load_ratio(c), c.order_id)


STRATEGIES: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    STRATEGIES[cls.name] = cls
    return cls


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise ValueError(unknown_strategy_message(name)) from None


def strategy_class(name: str) -> type[Strategy] | None:
    return STRATEGIES.get(name)


def strategy_names() -> list[str]:
    return sorted(STRATEGIES)


def unknown_strategy_message(name: str) -> str:
    """The same words wherever a name is refused (API, admin, engine)."""
    return f"Unknown strategy {name!r}; known: {', '.join(strategy_names())}."


def strategy_names_for(kind: str) -> list[str]:
    """The registered strategies that serve assignees of `kind` (an AssigneeKind value)."""
    return sorted(name for name, cls in STRATEGIES.items() if kind in cls.kinds)


def check_strategy_kind(name: str, *, kind: str) -> str | None:
    """Why a task type whose work goes to `kind` may not use strategy `name`, or None when
    it may. An unknown name is refused too, in the words of unknown_strategy_message."""
    cls = strategy_class(name)
    if cls is None:
        return unknown_strategy_message(name)
    if kind in cls.kinds:
        return None
    serve = ", ".join(strategy_names_for(kind)) or "none"
    serves = " and ".join(sorted(cls.kinds))
    return (f"Strategy {name!r} serves only {serves} task types; a type whose assignee_kind "
            f"is {kind!r} may use: {serve}.")


# What a task type's `strategy_params` may hold besides its strategy's own keys, checked by
# assignee kind when the type is saved: the app routing that kind registers the keys it reads
# (apps.execution: the unit filters), so a bad value is a 400 then, not work stranded later.
PARAMS_CHECKS: dict[str, Callable[[Any], list[str]]] = {}


def register_params_check(kind: str, check: Callable[[Any], list[str]]) -> None:
    """`check(params)` returns what is wrong with `params` (empty: nothing)."""
    PARAMS_CHECKS[kind] = check


def check_strategy_params(params: Any, *, kind: str) -> list[str]:
    # Every router reads them with .get(): a list or a string stored here would fail each
    # assignment of the type later, far from the request that stored it.
    if not isinstance(params, dict):
        return ["Must be a JSON object of the strategy's parameters."]
    check = PARAMS_CHECKS.get(kind)
    return check(params) if check is not None else []


# --- shared measures -------------------------------------------------------------------------
def load_ratio(c: Candidate) -> float:
    return c.load / c.capacity if c.capacity else 1.0


def skill_coverage(c: Candidate, ctx: RankContext) -> float:
    """Weighted share of the top level (5) the candidate reaches on the required skills."""
    if not ctx.requirements:
        return 1.0
    weights = ctx.params.get("weights", {})
    total = sum(weights.get(r.skill_name, 1) * 5 for r in ctx.requirements)
    got = sum(weights.get(r.skill_name, 1) * c.skills.get(r.skill_id, 0)
              for r in ctx.requirements)
    return got / total if total else 1.0


def explain(c: Candidate, ctx: RankContext, score: float) -> str:
    parts = [
        f"skill {r.skill_name} {c.skills.get(r.skill_id, 0)} ≥ {r.level}"
        for r in ctx.requirements
    ]
    parts += [f"load {c.load}/{c.capacity}", f"seniority {c.seniority}", f"score {score:.3f}"]
    if c.delegated_from:
        parts.append(f"substitute for {c.delegated_from[1]} (on leave)")
    return ", ".join(parts)


# --- the strategies ---------------------------------------------------------------------------
@register
class LeastLoaded(Strategy):
    """Load balancing: the lowest share of capacity in use."""

    name = "least_loaded"
    kinds = frozenset({AssigneeKind.STAFF, AssigneeKind.UNIT})

    def score(self, task, c, ctx):
        return 1.0 - load_ratio(c)

    def picker(self, candidates, ctx):
        if _own(self, LeastLoaded, "score", "tie_break", "rank", "best"):
            return _scoring_picker(self, candidates, ctx)
        return None


@register
class SkillMatch(Strategy):
    """Best weighted skill coverage; the less loaded first among equals."""

    name = "skill_match"
    kinds = frozenset({AssigneeKind.STAFF})  # reads skills, seniority or rating

    def score(self, task, c, ctx):
        return skill_coverage(c, ctx)

    def picker(self, candidates, ctx):
        if _own(self, SkillMatch, "score", "tie_break", "rank", "best"):
            return _scoring_picker(self, candidates, ctx)
        return None


@register
class PriorityMatch(Strategy):
    """Critical and high work to the most senior and best performing; the rest balanced."""

    name = "priority_match"
    kinds = frozenset({AssigneeKind.STAFF})  # reads skills, seniority or rating

    def score(self, task, c, ctx):
        if task.priority >= Priority.HIGH:
            return (c.seniority * 5 + c.rating) / 30
        return 1.0 - load_ratio(c)

    def picker(self, candidates, ctx):
        if not _own(self, PriorityMatch, "score", "tie_break", "rank", "best"):
            return None
        # The score depends on the task only through which side of HIGH its priority is.
        high, other = Task(priority=Priority.HIGH), Task(priority=Priority.LOW)
        return _Split(lambda task: task.priority >= Priority.HIGH, {
            True: _scoring_picker(self, candidates, ctx, as_task=high),
            False: _scoring_picker(self, candidates, ctx, as_task=other)})


@register
class LeastRecentlyAssigned(Strategy):
    name = "least_recently_assigned"
    kinds = frozenset({AssigneeKind.STAFF, AssigneeKind.UNIT})

    def rank(self, task, candidates, ctx):
        ordered = sorted(candidates, key=lambda c: (_waited(c), c.order_id))
        return _positional(ordered, ctx)

    def picker(self, candidates, ctx):
        if not _own(self, LeastRecentlyAssigned, "rank", "best"):
            return None
        # The last hand-over time of the pool is read once per batch: it does not move while
        # the batch is planned, so the order is fixed.
        return KeyedPicker(candidates, lambda c: (_waited(c), c.order_id), changing=False)


@register
class RoundRobin(Strategy):
    """Turns in a fixed order (by user id), continuing after whoever had the last turn."""

    name = "round_robin"
    kinds = frozenset({AssigneeKind.STAFF, AssigneeKind.UNIT})
    keeps_cursor = True

    def rank(self, task, candidates, ctx):
        ordered = sorted(candidates, key=lambda c: c.order_id)
        ids = [c.order_id for c in ordered]
        start = bisect.bisect_right(ids, ctx.cursor)
        return _positional(ordered[start:] + ordered[:start], ctx)

    def picker(self, candidates, ctx):
        if _own(self, RoundRobin, "rank", "best"):
            return _TurnPicker(candidates)
        return None


@register
class Random(Strategy):
    """Uniform choice, seeded by the task: the same task and pool give the same pick."""

    name = "random"
    kinds = frozenset({AssigneeKind.STAFF, AssigneeKind.UNIT})

    def rank(self, task, candidates, ctx):
        ordered = sorted(candidates, key=lambda c: c.order_id)
        if not ordered:
            return []
        # The first is drawn on its own, so the engine can draw it without shuffling the
        # whole pool for every task (see _DrawPicker); the rest are shuffled after it.
        rng = random.Random(str(task.pk))
        first = ordered.pop(rng.randrange(len(ordered)))
        rng.shuffle(ordered)
        return _positional([first, *ordered], ctx)

    def picker(self, candidates, ctx):
        if _own(self, Random, "rank", "best"):
            return _DrawPicker(candidates)
        return None


@register
class ConsistentHash(Strategy):
    """The same `reference` goes to the same person while the pool stays the same; when the
    pool changes, only the references of who left or arrived move (a hash ring)."""

    name = "consistent_hash"
    kinds = frozenset({AssigneeKind.STAFF, AssigneeKind.UNIT})
    replicas = 64

    def rank(self, task, candidates, ctx):
        by_id = {c.order_id: c for c in candidates}
        points, owners = _ring(candidates, self.replicas)
        if not len(points):
            return []
        start = bisect.bisect_left(points, _hash(_ring_key(task)))
        seen: dict[int, Candidate] = {}
        for oid in owners[start:] + owners[:start]:
            if oid not in seen:
                seen[oid] = by_id[oid]
                if len(seen) == len(by_id):
                    break
        return _positional(list(seen.values()), ctx)

    def picker(self, candidates, ctx):
        if _own(self, ConsistentHash, "rank", "best"):
            return _RingPicker(candidates, self.replicas)
        return None


@register
class Failover(Strategy):
    """The first available person in a configured order: params {"order": [usernames]}."""

    name = "failover"
    kinds = frozenset({AssigneeKind.STAFF, AssigneeKind.UNIT})

    def rank(self, task, candidates, ctx):
        order = {name: i for i, name in enumerate(ctx.params.get("order", []))}
        listed = [c for c in candidates if c.meant_for in order]
        ordered = sorted(listed, key=lambda c: order[c.meant_for])
        return _positional(ordered, ctx)

    def picker(self, candidates, ctx):
        if not _own(self, Failover, "rank", "best"):
            return None
        order = {name: i for i, name in enumerate(ctx.params.get("order", []))}
        return KeyedPicker([c for c in candidates if c.meant_for in order],
                           lambda c: (order[c.meant_for],), changing=False)


@register
class OptimalBatch(SkillMatch):
    """Ranks like skill_match one task at a time; assigns a whole batch at once by solving
    the assignment problem (apps.assignment.optimal)."""

    name = "optimal_batch"
    kinds = frozenset({AssigneeKind.STAFF})  # reads skills, seniority or rating
    plans_batch = True

    def picker(self, candidates, ctx):
        if _own(self, OptimalBatch, "score", "tie_break", "rank", "best"):
            return _scoring_picker(self, candidates, ctx)
        return None


def _positional(ordered: list[Candidate], ctx: RankContext) -> list[Scored]:
    n = len(ordered)
    return [Scored(c, (n - i) / n, ctx) for i, c in enumerate(ordered)]


def _waited(c: Candidate) -> datetime:
    at = c.last_assigned_at
    return at.replace(tzinfo=None) if at else _NEVER


_NEVER = datetime.min.replace(tzinfo=None)


def _ring_key(task: Task) -> str:
    return task.reference or str(task.pk)


def _ring(candidates: Sequence[Candidate], replicas: int) -> tuple[list[int], list[int]]:
    """The hash ring of a pool: each member's points, in order (by point, then member).

    A member's points depend on the member alone, so the ring of part of a pool is the ring
    of the whole pool with the others' points left out: the engine builds the ring of a pool
    once per batch and skips who has filled up, and gets what this ring gives.
    """
    if not candidates:
        return [], []
    members = sorted({(c.key, c.order_id) for c in candidates})
    points = np.concatenate([_points(key, replicas) for key, _ in members])
    owners = np.repeat(np.array([oid for _, oid in members], dtype=np.int64), replicas)
    order = np.lexsort((owners, points))
    return points[order].tolist(), owners[order].tolist()


@functools.lru_cache(maxsize=100_000)
def _points(key: str, replicas: int) -> np.ndarray:
    """A member's places on the ring (cached: a pool is hashed again in every batch)."""
    points = np.array([_hash(f"{key}#{i}") for i in range(replicas)], dtype=np.uint64)
    points.flags.writeable = False  # shared by every ring the member is in
    return points


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


# --- pickers: the engine's hot path -----------------------------------------------------------
def _own(strategy: Strategy, cls: type[Strategy], *names: str) -> bool:
    """Whether `strategy` still behaves as `cls` wrote it (a subclass overriding one of these
    methods gets the generic path, not a picker that would disagree with its ranking)."""
    return all(getattr(type(strategy), n) is getattr(cls, n) for n in names)


class Picker:
    """`Strategy.best` for task after task over one pool, without looking at everyone each
    time: a batch asks a pool of hundreds of people for hundreds of tasks.

    It answers for the members not yet dropped and not excluded for the task. The engine
    drops a member when their load rises past what the pool's tasks need, and a load only
    rises while a batch is planned; a picker relies on both (see KeyedPicker).
    """

    def pick(self, task: Task, excluded: Container[int], ctx: RankContext) -> Scored | None:
        raise NotImplementedError

    def drop(self, c: Candidate) -> None:
        raise NotImplementedError


class KeyedPicker(Picker):
    """The member with the smallest key (ties: the earlier in the pool), from a heap.

    With `changing`, a key may rise as the member's load rises; it never falls while a batch
    is planned, so a heap entry is at worst too small: when it reaches the top its key is
    computed again and it goes back in its right place (no scan of the pool).
    """

    def __init__(self, candidates: Sequence[Candidate], key: Callable[[Candidate], tuple], *,
                 changing: bool, score: Callable[[Candidate, RankContext], float] | None = None):
        self._key, self._changing, self._score = key, changing, score
        self._heap = [(key(c), i, c) for i, c in enumerate(candidates)]
        heapq.heapify(self._heap)
        self._index = {id(c): i for i, c in enumerate(candidates)}
        self._dropped: set[int] = set()

    def pick(self, task, excluded, ctx):
        heap, aside, found = self._heap, [], None
        while heap:
            key, i, c = heap[0]
            if i in self._dropped:
                heapq.heappop(heap)
            elif self._changing and (now := self._key(c)) != key:
                heapq.heapreplace(heap, (now, i, c))
            elif c.user_id in excluded:
                aside.append(heapq.heappop(heap))
            else:
                found = c
                break
        for entry in aside:
            heapq.heappush(heap, entry)
        if found is None:
            return None
        return Scored(found, self._score(found, ctx) if self._score else 1.0, ctx)

    def drop(self, c):
        if id(c) in self._index:
            self._dropped.add(self._index[id(c)])


def _scoring_picker(strategy: Strategy, candidates, ctx, *, as_task: Task | None = None):
    """Strategy.best's order (score, then tie-break) for a strategy whose score does not
    depend on the task (or only on what `as_task` stands for) and whose key only rises with
    load (less room never scores better)."""
    return KeyedPicker(
        candidates,
        lambda c: (-strategy.score(as_task, c, ctx), *strategy.tie_break(c)),
        changing=True, score=lambda c, ctx: strategy.score(as_task, c, ctx))


class _Split(Picker):
    """One picker per class of task (e.g. high priority or not)."""

    def __init__(self, classify: Callable[[Task], Any], pickers: dict[Any, Picker]):
        self._classify, self._pickers = classify, pickers

    def pick(self, task, excluded, ctx):
        return self._pickers[self._classify(task)].pick(task, excluded, ctx)

    def drop(self, c):
        for p in self._pickers.values():
            p.drop(c)


class _Ordered(Picker):
    """Members kept sorted by (order id, place in the pool), as the positional strategies
    order them."""

    def __init__(self, candidates: Sequence[Candidate]):
        ordered = sorted(((c.order_id, i), c) for i, c in enumerate(candidates))
        self._keys = [k for k, _ in ordered]
        self._members = [c for _, c in ordered]
        self._where = {id(c): k for k, c in ordered}

    def drop(self, c):
        key = self._where.pop(id(c), None)
        if key is not None:
            at = bisect.bisect_left(self._keys, key)
            del self._keys[at], self._members[at]

    def _eligible(self, excluded) -> list[Candidate]:
        members = self._members
        if excluded and any(c.user_id in excluded for c in members):
            return [c for c in members if c.user_id not in excluded]
        return members


class _TurnPicker(_Ordered):
    """Round robin: the first member after the cursor, going round."""

    def pick(self, task, excluded, ctx):
        members, n = self._members, len(self._members)
        start = bisect.bisect_right(self._keys, (ctx.cursor, float("inf")))
        for step in range(n):
            c = members[(start + step) % n]
            if c.user_id not in excluded:
                return Scored(c, 1.0, ctx)
        return None


class _DrawPicker(_Ordered):
    """Random: the member Random.rank puts first, drawn from the task's seed."""

    def pick(self, task, excluded, ctx):
        members = self._eligible(excluded)
        if not members:
            return None
        return Scored(members[random.Random(str(task.pk)).randrange(len(members))], 1.0, ctx)


class _RingPicker(Picker):
    """Consistent hash: the first live member clockwise from the task's point on the ring of
    the whole pool (the ring of the live members, see _ring)."""

    def __init__(self, candidates: Sequence[Candidate], replicas: int):
        self._points, self._owners = _ring(candidates, replicas)
        self._live = {c.order_id: c for c in candidates}

    def pick(self, task, excluded, ctx):
        if not self._live:
            return None
        points, owners, live = self._points, self._owners, self._live
        start = bisect.bisect_left(points, _hash(_ring_key(task)))
        n = len(owners)
        for step in range(n):
            c = live.get(owners[(start + step) % n])
            if c is not None and c.user_id not in excluded:
                return Scored(c, 1.0, ctx)
        return None

    def drop(self, c):
        if self._live.get(c.order_id) is c:
            del self._live[c.order_id]
