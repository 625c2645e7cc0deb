"""Assignment strategies: a registry of small classes, resolved by the name a task type stores.

A strategy ranks candidates for one task, best first, each with a score and an explanation a
manager can read. Ties always break the same way (by score, then the candidate's id), so the
same pool gives the same answer. A project adds its own with `@register`.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from apps.tasks.models import Task
from apps.tasks.states import Priority

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
        raise ValueError(f"unknown assignment strategy {name!r}") from None


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

    def score(self, task, c, ctx):
        return 1.0 - load_ratio(c)


@register
class SkillMatch(Strategy):
    """Best weighted skill coverage; the less loaded first among equals."""

    name = "skill_match"

    def score(self, task, c, ctx):
        return skill_coverage(c, ctx)


@register
class PriorityMatch(Strategy):
    """Critical and high work to the most senior and best performing; the rest balanced."""

    name = "priority_match"

    def score(self, task, c, ctx):
        if task.priority >= Priority.HIGH:
            return (c.seniority * 5 + c.rating) / 30
        return 1.0 - load_ratio(c)


@register
class LeastRecentlyAssigned(Strategy):
    name = "least_recently_assigned"

    def rank(self, task, candidates, ctx):
        never = datetime.min.replace(tzinfo=None)

        def waited(c: Candidate):
            at = c.last_assigned_at
            return at.replace(tzinfo=None) if at else never

        ordered = sorted(candidates, key=lambda c: (waited(c), c.order_id))
        return _positional(ordered, ctx)


@register
class RoundRobin(Strategy):
    """Turns in a fixed order (by user id), continuing after whoever had the last turn."""

    name = "round_robin"

    def rank(self, task, candidates, ctx):
        ordered = sorted(candidates, key=lambda c: c.order_id)
        ids = [c.order_id for c in ordered]
        start = bisect.bisect_right(ids, ctx.cursor)
        return _positional(ordered[start:] + ordered[:start], ctx)


@register
class Random(Strategy):
    """Uniform choice, seeded by the task: the same task and pool give the same pick."""

    name = "random"

    def rank(self, task, candidates, ctx):
        ordered = sorted(candidates, key=lambda c: c.order_id)
        random.Random(str(task.pk)).shuffle(ordered)
        return _positional(ordered, ctx)


@register
class ConsistentHash(Strategy):
    """The same `reference` goes to the same person while the pool stays the same; when the
    pool changes, only the references of who left or arrived move (a hash ring)."""

    name = "consistent_hash"
    replicas = 64

    def rank(self, task, candidates, ctx):
        by_id = {c.order_id: c for c in candidates}
        points, owners = _ring(tuple(sorted((c.key, c.order_id) for c in candidates)),
                               self.replicas)
        if not points:
            return []
        start = bisect.bisect_left(points, _hash(task.reference or str(task.pk)))
        seen: dict[int, Candidate] = {}
        for oid in owners[start:] + owners[:start]:
            if oid not in seen:
                seen[oid] = by_id[oid]
                if len(seen) == len(by_id):
                    break
        return _positional(list(seen.values()), ctx)


@register
class Failover(Strategy):
    """The first available person in a configured order: params {"order": [usernames]}."""

    name = "failover"

    def rank(self, task, candidates, ctx):
        order = {name: i for i, name in enumerate(ctx.params.get("order", []))}
        listed = [c for c in candidates if c.meant_for in order]
        ordered = sorted(listed, key=lambda c: order[c.meant_for])
        return _positional(ordered, ctx)


@register
class OptimalBatch(SkillMatch):
    """Ranks like skill_match one task at a time; assigns a whole batch at once by solving
    the assignment problem (apps.assignment.optimal)."""

    name = "optimal_batch"


def _positional(ordered: list[Candidate], ctx: RankContext) -> list[Scored]:
    n = len(ordered)
    return [Scored(c, (n - i) / n, ctx) for i, c in enumerate(ordered)]


@functools.lru_cache(maxsize=64)
def _ring(members: tuple[tuple[str, int], ...], replicas: int) -> tuple[list[int], list[int]]:
    """The hash ring of a pool, built once per distinct pool (a batch reuses it)."""
    ring = sorted((_hash(f"{key}#{i}"), oid) for key, oid in members for i in range(replicas))
    return [p for p, _ in ring], [oid for _, oid in ring]


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
