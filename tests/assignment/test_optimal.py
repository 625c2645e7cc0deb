"""optimal_batch is exact: the most tasks, then the largest total score, under capacity with
mixed task weights (checked against brute force), and the engine keeps to its plan."""

from __future__ import annotations

import itertools
import random

import pytest

from apps.assignment import optimal, services
from apps.assignment.models import Assignment
from apps.assignment.pool import Candidate
from apps.tasks.models import Task
from tests.builders import create_task, make_staff, make_task_type, require


def room(c: Candidate) -> int:
    return max(c.capacity - c.load, 0)  # a load above capacity (capacity lowered) is no room


def brute_force(groups, people, scores, weights) -> tuple[int, float]:
    """The best (tasks served, total score) over every way to hand out the tasks."""
    best = (0, 0.0)
    options = [[None] + [j for j, s in enumerate(scores[g]) if s is not None] for g in groups]
    for choice in itertools.product(*options):
        used = [0] * len(people)
        for g, j in zip(groups, choice, strict=True):
            if j is not None:
                used[j] += weights[g]
        if any(u > room(c) for u, c in zip(used, people, strict=True)):
            continue
        served = [scores[g][j] for g, j in zip(groups, choice, strict=True) if j is not None]
        best = max(best, (len(served), sum(served)))
    return best


def random_instance(rng: random.Random):
    people = [Candidate(user_id=j + 1, name=f"p{j}", load=rng.randint(0, 2),
                        capacity=rng.randint(1, 6)) for j in range(rng.randint(1, 4))]
    kinds = [f"kind{k}" for k in range(rng.randint(1, 3))]
    weights = {k: rng.randint(1, 3) for k in kinds}
    # Scores from a small set: ties are common, and the solver must still find the optimum.
    scores = {k: [rng.choice([None, 0.2, 0.4, 0.6, 0.8, 1.0, rng.random()]) for _ in people]
              for k in kinds}
    groups = [rng.choice(kinds) for _ in range(rng.randint(1, 6))]
    return groups, people, scores, weights


@pytest.mark.parametrize("seed", range(300))
def test_the_solver_matches_brute_force_with_mixed_weights(seed):
    groups, people, scores, weights = random_instance(random.Random(seed))
    plan = optimal.solve(groups, people, scores, weights=weights)

    # A valid plan: each task once, only to someone allowed, at their score, within room.
    assert len({i for i, _, _ in plan}) == len(plan)
    used = {c.user_id: 0 for c in people}
    for i, person, score in plan:
        j = people.index(person)
        assert scores[groups[i]][j] == score
        used[person.user_id] += weights[groups[i]]
    assert all(used[c.user_id] <= room(c) for c in people)

    served, total = brute_force(groups, people, scores, weights)
    assert len(plan) == served
    assert sum(s for _, _, s in plan) == pytest.approx(total, abs=1e-9)


def test_a_kind_nobody_may_take_or_nobody_with_room_plans_nothing():
    people = [Candidate(user_id=1, name="full", load=3, capacity=3)]
    assert optimal.solve(["a", "b"], people, {"a": [None], "b": [1.0]},
                         weights={"a": 1, "b": 1}) == []


def test_tasks_of_a_kind_are_served_in_the_batchs_order():
    """When only some of a kind can be served, the first in the batch (priority, age) are."""
    people = [Candidate(user_id=1, name="ann", load=0, capacity=2)]
    plan = optimal.solve(["a", "a", "a"], people, {"a": [0.5]}, weights={"a": 1})
    assert [i for i, _, _ in plan] == [0, 1]


@pytest.mark.django_db
def test_a_heavy_task_does_not_take_the_room_two_light_ones_score_more_in(margaret):
    """ann has room 2, ben 1. A heavy task (weight 2) only ann can do, then two light ones:
    one anyone can do (ben scores 0.6), one only ann can do. At most two are served: the
    heavy one with ben's light one scores 1.6; both light ones with ann score 2.0. Slots
    sized for the lightest task planned all three and then lost the last one."""
    heavy = require(make_task_type("heavy", strategy="optimal_batch", capacity_weight=2),
                    {"python": 3, "sql": 3})
    light = require(make_task_type("light", strategy="optimal_batch"), {"python": 3})
    light_sql = require(make_task_type("light-sql", strategy="optimal_batch"), {"sql": 3})
    make_staff("ann", skills={"python": 5, "sql": 5}, capacity=2)
    make_staff("ben", skills={"python": 3}, capacity=1)
    first = create_task(by=margaret, task_type=heavy)
    create_task(by=margaret, task_type=light)
    create_task(by=margaret, task_type=light_sql)

    result = services.assign_queued()

    assert result.assigned == 2
    assert round(sum(Assignment.objects.values_list("score", flat=True)), 3) == 2.0
    assert set(Assignment.objects.values_list("assignee_user__username", flat=True)) == {"ann"}
    assert Task.objects.get(pk=first.pk).status == "queued"

