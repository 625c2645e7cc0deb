"""Batch assignment as an integer program: the most tasks, then the largest total score,
under every person's free capacity, with each task weighing what its type weighs.

Greedy one-by-one assignment can spend the best person on the first task and leave a later
task with nobody qualified; this plans the whole batch at once and is exact.

The tasks of one kind (type, widening step and exclusions) are interchangeable: the same
weight, the same people allowed, the same score per person. So the program counts, per kind
and person, how many of that kind the person gets (`y[k, j]`), not which task: a batch of
1,000 tasks over 1,000 people is a few thousand integer variables, not a million. It is
solved by HiGHS (scipy.optimize.milp) twice, with no optimality gap allowed:

1. the most tasks:  max sum y[k, j]
2. among those, the best score:  max sum score[k, j] * y[k, j], with sum y = the first answer
subject to, for every kind k and person j,
    sum_j y[k, j] <= tasks of kind k,   sum_k weight[k] * y[k, j] <= free capacity of j,
    y[k, j] integer >= 0, and 0 where j may not take kind k.

Two solves rather than one weighted objective keep the comparison of scores exact (a count
weighted to dominate the scores would bury their differences under the solver's tolerances).
Each kind's tasks then go to the people planned for it in the batch's order (priority, age).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from .pool import Candidate

# A solve taking longer than this (it does not on real batches: the program is close to a
# transportation problem) keeps the best plan found so far; the engine then serves what is
# left greedily.
TIME_LIMIT_SECONDS = 10.0


def solve(
    groups: Sequence[Hashable],
    candidates: Sequence[Candidate],
    scores: Mapping[Hashable, Sequence[float | None]],
    *,
    weights: Mapping[Hashable, int],
) -> list[tuple[int, Candidate, float]]:
    """Plan (task index, candidate, score) for the tasks that get someone.

    `groups[i]` names the kind of task i; `scores[kind][j]` is candidate j's score for that
    kind, or None where j may not take it; `weights[kind]` is what a task of that kind takes
    from a person's capacity.
    """
    kinds = list(dict.fromkeys(groups))
    members: dict[Hashable, list[int]] = {k: [] for k in kinds}
    for i, g in enumerate(groups):
        members[g].append(i)
    free = [max(c.capacity - c.load, 0) for c in candidates]
    var_kind, var_person, var_score, var_max = [], [], [], []
    for k_index, k in enumerate(kinds):
        w = max(weights[k], 0)
        for j, s in enumerate(scores[k]):
            if s is None:
                continue
            most = len(members[k]) if w == 0 else min(len(members[k]), free[j] // w)
            if most > 0:
                var_kind.append(k_index)
                var_person.append(j)
                var_score.append(float(s))
                var_max.append(most)
    if not var_kind:
        return []
    counts = _solve_counts(kinds, members, weights, free, var_kind, var_person, var_score,
                           var_max)
    plan = []
    served = {k: iter(members[k]) for k in kinds}
    for v in np.flatnonzero(counts):
        k = kinds[var_kind[v]]
        for _ in range(int(counts[v])):
            plan.append((next(served[k]), candidates[var_person[v]], var_score[v]))
    return sorted(plan, key=lambda p: p[0])


def _solve_counts(kinds, members, weights, free, var_kind, var_person, var_score,
                  var_max) -> np.ndarray:
    n = len(var_kind)
    people = sorted(set(var_person))
    person_row = {j: len(kinds) + r for r, j in enumerate(people)}
    # One row per kind (no more than it has tasks), one per person (no more than their room).
    rows = np.concatenate([var_kind, [person_row[j] for j in var_person]])
    cols = np.concatenate([np.arange(n), np.arange(n)])
    vals = np.concatenate([np.ones(n), [float(weights[kinds[k]]) for k in var_kind]])
    a = coo_array((vals, (rows, cols)), shape=(len(kinds) + len(people), n)).tocsr()
    upper = np.array([len(members[k]) for k in kinds] + [free[j] for j in people], float)
    limits = LinearConstraint(a, -np.inf, upper)
    bounds = Bounds(np.zeros(n), np.array(var_max, float))
    # No presolve: on these programs it cost more than the solve (1,000 tasks of mixed
    # weights over 1,000 people: 0.4 s with it, 0.07 s without; the answer is the same).
    options = {"mip_rel_gap": 0.0, "time_limit": TIME_LIMIT_SECONDS, "presolve": False}

    # The linear relaxation first: when its (vertex) optimum is integral it is the integer
    # optimum too, and HiGHS's branch and bound, which spends its time on heuristics even
    # when the root is integral, is not needed. With one weight for the whole batch (the
    # usual case) it always is: dividing each person's row by that weight makes the
    # constraints a bipartite incidence matrix, which is totally unimodular. A fractional
    # answer (mixed weights sharing someone's room) is solved as the integer program.
    def solve(objective, constraints, fallback=None):
        for integrality in (0, 1):
            found = milp(objective, constraints=constraints, bounds=bounds, options=options,
                         integrality=np.full(n, integrality))
            if found.x is not None and np.allclose(found.x, np.rint(found.x), atol=1e-6):
                return found
        return fallback

    # The most tasks: all of them when a plain first-fit already serves all (the usual case:
    # a batch far smaller than the room it is offered); otherwise solved for.
    count = _first_fit(kinds, members, weights, free, var_kind, var_person)
    most = None
    if count < sum(len(m) for m in members.values()):
        most = solve(-np.ones(n), [limits])
        if most is None:
            return np.zeros(n, dtype=int)
        count = round(-most.fun)
    everyone = LinearConstraint(np.ones((1, n)), count - 0.5, np.inf)
    best = solve(-np.array(var_score), [limits, everyone], fallback=most)
    if best is None:
        return np.zeros(n, dtype=int)
    return np.rint(best.x).astype(int)


def _first_fit(kinds, members, weights, free, var_kind, var_person) -> int:
    """How many tasks a first-fit hands out: a lower bound of the most that can be."""
    room = list(free)
    left = [len(members[k]) for k in kinds]
    served = 0
    for k, j in zip(var_kind, var_person, strict=True):
        w = weights[kinds[k]]
        take = left[k] if w == 0 else min(left[k], room[j] // w)
        left[k] -= take
        room[j] -= take * w
        served += take
    return served
