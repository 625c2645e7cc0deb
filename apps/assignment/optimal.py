"""Batch assignment as an assignment problem: the largest total match score under capacity.

Each candidate offers as many slots as tasks fit in their free capacity; each task takes one
slot. scipy's `linear_sum_assignment` (a Jonker-Volgenant solver) finds the slot per task that
maximises the summed score, where greedy one-by-one assignment can spend the best person on
the first task and leave a later task with nobody qualified.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from .pool import Candidate

# Far above any real score, so the solver uses a forbidden pair only when a row has nothing
# else; such pairs are dropped from the plan.
FORBIDDEN = 1e6


def solve(
    groups: Sequence[Hashable],
    candidates: Sequence[Candidate],
    scores: Mapping[Hashable, Sequence[float | None]],
    *,
    weight: int = 1,
) -> list[tuple[int, Candidate, float]]:
    """Plan (task index, candidate, score) for the tasks that get someone.

    `groups[i]` names the kind of task i (its task type); `scores[group][j]` is candidate j's
    score for that kind, or None where j may not take it. Scores depend on the kind, not the
    task, so the matrix is built one row per kind and copied, not scored cell by cell.
    """
    slot_owner = np.repeat(np.arange(len(candidates)), [
        min(max(c.capacity - c.load, 0) // max(weight, 1), len(groups)) for c in candidates
    ])
    if not len(groups) or not slot_owner.size:
        return []
    kinds = {g: np.array([FORBIDDEN if s is None else -s for s in scores[g]])[slot_owner]
             for g in set(groups)}
    cost = np.vstack([kinds[g] for g in groups])
    rows, cols = linear_sum_assignment(cost)
    return [
        (int(r), candidates[slot_owner[c]], float(-cost[r, c]))
        for r, c in sorted(zip(rows, cols, strict=True)) if cost[r, c] < FORBIDDEN
    ]
