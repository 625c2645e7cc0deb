"""One release path for a single completion and a unit's batch of results: the dependants
whose last dependency completed are released in the completing transaction, in a fixed number
of statements however many they are, and exactly once when their dependencies complete at
the same moment in two transactions."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.actors import Actor
from apps.execution import services as unit_services
from apps.tasks.models import Task, TaskHistory
from apps.tasks.services import task_complete
from tests.builders import make_task_type
from tests.concurrency import race
from tests.execution.conftest import register
from tests.workflows.conftest import create, graph_body, ids, start, status

PG_ONLY = pytest.mark.skipif(connection.vendor != "postgresql",
                             reason="PostgreSQL's round trips and real concurrent connections")
DIAMOND = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]


def fan_out(n: int, *, task_type: str = "step") -> dict:
    """`a`, then n dependants of it alone."""
    body = graph_body([("a", f"d{i}") for i in range(n)], name=f"fan-{n}")
    for item in body["tasks"]:
        item["task_type"] = task_type
    return body


def released(task_ids) -> Counter:
    return Counter(str(pk) for pk in TaskHistory.objects.filter(
        task_id__in=list(task_ids), transition="release").values_list("task_id", flat=True))


def complete_counted(task_id, who) -> list[str]:
    start(task_id, who)
    with CaptureQueriesContext(connection) as ctx:
        task_complete(task_id=task_id, by=Actor.for_user(who))
    return [q["sql"] for q in ctx.captured_queries]


@pytest.mark.django_db
def test_completing_a_task_releases_its_dependants_with_history_and_reason(rita, alice, step):
    t = ids(create(rita, fan_out(3)))
    start(t["a"], alice)
    task_complete(task_id=t["a"], by=Actor.for_user(alice))
    dependants = [t[f"d{i}"] for i in range(3)]
    assert [status(d) for d in dependants] == ["queued"] * 3
    rows = TaskHistory.objects.filter(task_id__in=dependants, transition="release")
    assert sorted((r.from_status, r.to_status, r.reason) for r in rows) == [
        ("blocked", "queued", f"dependency {t['a']} completed")] * 3
    assert all(Task.objects.get(pk=d).queued_at is not None for d in dependants)


@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_releasing_100_dependants_costs_the_statements_releasing_1_does(rita, alice, step):
    small, large = ids(create(rita, fan_out(1))), ids(create(rita, fan_out(100)))
    complete_counted(ids(create(rita, fan_out(1)))["a"], alice)  # caches warmed
    one = complete_counted(small["a"], alice)
    hundred = complete_counted(large["a"], alice)
    assert len(hundred) == len(one), "\n".join(hundred)
    # Dependants locked, their readiness, their rows, their history: for 1 or 100.
    assert sum('"status" = \'blocked\'' in q for q in hundred) == 2, "\n".join(hundred)
    assert sum(q.startswith('UPDATE "tasks_task"') for q in hundred) == 2  # a, then its 100
    assert sum(q.startswith('INSERT INTO "tasks_taskhistory"') for q in hundred) == 2
    dependants = [large[f"d{i}"] for i in range(100)]
    assert {status(d) for d in dependants} == {"queued"}
    assert set(released(dependants).values()) == {1} and len(released(dependants)) == 100


@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_units_batch_of_results_releases_100_dependants_in_as_many_statements_as_1(rita):
    make_task_type("docs", assignee_kind="unit")
    unit, _ = register("worker-001", capacity=10)
    by = unit_services.unit_actor(unit=unit)

    def finish_counted(body) -> tuple[list[str], dict]:
        t = ids(create(rita, body))
        (held,) = unit_services.tasks_claim(unit=unit, max_tasks=1, by=by)
        assert str(held.pk) == t["a"]
        with CaptureQueriesContext(connection) as ctx:
            unit_services.unit_report_results(
                unit=unit, results=[{"task_id": t["a"], "outcome": "completed"}], by=by)
        return [q["sql"] for q in ctx.captured_queries], t

    finish_counted(fan_out(1, task_type="docs"))  # caches warmed
    # The dependants are queued for the unit too: cancelled first, not to be claimed next.
    Task.objects.filter(status="queued").update(status="cancelled")
    one, _ = finish_counted(fan_out(1, task_type="docs"))
    Task.objects.filter(status="queued").update(status="cancelled")
    hundred, t = finish_counted(fan_out(100, task_type="docs"))
    assert len(hundred) == len(one), "\n".join(hundred)
    dependants = [t[f"d{i}"] for i in range(100)]
    assert {status(d) for d in dependants} == {"queued"}
    assert set(released(dependants).values()) == {1}


def _diamond_held_by_two_units(rita) -> tuple[dict, list]:
    """A diamond of unit work with `a` completed, `b` and `c` held by two units."""
    make_task_type("docs", assignee_kind="unit")
    body = graph_body(DIAMOND)
    for item in body["tasks"]:
        item["task_type"] = "docs"
    t = ids(create(rita, body))
    units = [register(f"worker-{i}", capacity=1)[0] for i in (1, 2)]
    actors = [unit_services.unit_actor(unit=u) for u in units]
    (first,) = unit_services.tasks_claim(unit=units[0], max_tasks=1, by=actors[0])
    unit_services.unit_report_results(
        unit=units[0], results=[{"task_id": str(first.pk), "outcome": "completed"}],
        by=actors[0])
    held = [unit_services.tasks_claim(unit=u, max_tasks=1, by=a)[0]
            for u, a in zip(units, actors, strict=True)]
    assert {str(h.pk) for h in held} == {t["b"], t["c"]}
    return t, [(u, a, str(h.pk)) for u, a, h in zip(units, actors, held, strict=True)]


@PG_ONLY
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(5))
def test_two_batches_of_results_completing_both_dependencies_release_once(rita, attempt):
    t, holders = _diamond_held_by_two_units(rita)

    def report(i: int):
        unit, by, task_id = holders[i]
        return unit_services.unit_report_results(
            unit=unit, results=[{"task_id": task_id, "outcome": "completed"}], by=by)

    outcomes = race(2, report)
    assert not any(isinstance(o, Exception) for o in outcomes), outcomes
    assert status(t["d"]) == "queued"
    assert released([t["d"]]) == {t["d"]: 1}


@PG_ONLY
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_a_single_completion_and_a_batch_at_once_release_once(rita, alice, step, attempt):
    # b is done by a person (task_complete), c by a unit (its batch of results).
    make_task_type("docs", assignee_kind="unit")
    body = graph_body(DIAMOND)
    body["tasks"][2]["task_type"] = "docs"  # c
    t = ids(create(rita, body))
    start(t["a"], alice)
    task_complete(task_id=t["a"], by=Actor.for_user(alice))
    start(t["b"], alice)
    unit, _ = register("worker-1", capacity=1)
    by = unit_services.unit_actor(unit=unit)
    (held,) = unit_services.tasks_claim(unit=unit, max_tasks=1, by=by)
    assert str(held.pk) == t["c"]

    def finish(i: int):
        if i == 0:
            return task_complete(task_id=t["b"], by=Actor.for_user(alice))
        return unit_services.unit_report_results(
            unit=unit, results=[{"task_id": t["c"], "outcome": "completed"}], by=by)

    outcomes = race(2, finish)
    assert not any(isinstance(o, Exception) for o in outcomes), outcomes
    assert status(t["d"]) == "queued"
    assert released([t["d"]]) == {t["d"]: 1}


def chain(n: int) -> dict:
    keys = [f"k{i}" for i in range(n)]
    return graph_body(list(zip(keys, keys[1:], strict=False)), name=f"chain-{n}")


def fail_counted(task_id, who) -> list[str]:
    from apps.tasks.services import task_transition

    start(task_id, who)
    with CaptureQueriesContext(connection) as ctx:
        task_transition(task_id=task_id, action="fail", by=Actor.for_user(who), error="boom")
    return [q["sql"] for q in ctx.captured_queries]


@PG_ONLY
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("shape", ["chain", "fan_out"])
def test_cancelling_1000_dependants_costs_the_statements_cancelling_10_does(
        rita, alice, step, shape):
    build = {"chain": lambda n: chain(n), "fan_out": lambda n: fan_out(n - 1)}[shape]
    root = {"chain": "k0", "fan_out": "a"}[shape]
    fail_counted(ids(create(rita, build(10)))[root], alice)  # caches warmed
    small = fail_counted(ids(create(rita, build(10)))[root], alice)
    t = ids(create(rita, build(1000)))
    large = fail_counted(t[root], alice)
    assert len(large) == len(small), "\n".join(q[:200] for q in large)
    assert sum("WITH RECURSIVE" in q for q in large) == 1
    below = [v for k, v in t.items() if k != root]
    assert Task.objects.filter(pk__in=below, status="cancelled").count() == 999
    name = {"chain": "chain-1000", "fan_out": "fan-999"}[shape]
    reasons = set(TaskHistory.objects.filter(task_id__in=below, transition="cancel")
                  .values_list("reason", flat=True))
    assert reasons == {f"workflow {name!r}: {root} ended failed"}
