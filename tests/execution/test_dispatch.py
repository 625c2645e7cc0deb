"""Routed unit types: their work goes to the unit the type's strategy chooses, which starts it
at its next claim; `pull` types go to whoever claims first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.actors import Actor
from apps.execution import beats, services
from apps.execution.models import ExecutionUnit
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus as S
from tests.builders import api_client, create_task, make_task_type
from tests.execution.conftest import register, unit_client

pytestmark = pytest.mark.django_db
TESTS = Actor.system("tests")


def claim(token: str, unit_id: str, n: int = 10) -> list[str]:
    response = unit_client(token).post(f"/api/v1/execution-units/{unit_id}/claim", {"max": n})
    assert response.status_code == 200, response.json()
    return [t["id"] for t in response.json()["tasks"]]


def routed_type(strategy: str, **params):
    return make_task_type("docs", assignee_kind="unit", strategy=strategy,
                          strategy_params=params)


def held_by(unit_id: str) -> set[str]:
    return {str(pk) for pk in Task.objects.filter(assignee_unit__unit_id=unit_id)
            .values_list("pk", flat=True)}


def test_a_pull_type_goes_to_whoever_claims_first(olga):
    docs = make_task_type("docs", assignee_kind="unit")  # pull: the unit types' default
    tasks = [create_task(by=olga, task_type=docs) for _ in range(3)]
    register("worker-001", capacity=5)
    _, token = register("worker-002", capacity=5)

    assert sorted(claim(token, "worker-002")) == sorted(str(t.pk) for t in tasks)


def test_round_robin_sends_each_task_to_the_next_unit_whoever_claims(olga):
    docs = routed_type("round_robin")
    first, token_1 = register("worker-001", capacity=5)
    second, token_2 = register("worker-002", capacity=5)
    tasks = [create_task(by=olga, task_type=docs) for _ in range(4)]

    mine = claim(token_1, "worker-001")  # routes all four, starts its own two

    assert len(mine) == 2
    assert Task.objects.filter(assignee_unit=second, status=S.ASSIGNED).count() == 2
    theirs = claim(token_2, "worker-002")
    assert sorted(mine + theirs) == sorted(str(t.pk) for t in tasks)
    assert Task.objects.filter(status=S.RUNNING).count() == 4
    assert ExecutionUnit.objects.get(pk=first.pk).held == 2
    assert ExecutionUnit.objects.get(pk=second.pk).held == 2
    # The turn carries on from where it stopped, in the next routing run.
    nxt = create_task(by=olga, task_type=docs)
    services.units_route(task_type_ids=[docs.pk])
    assert str(nxt.pk) in held_by("worker-001")


def test_a_routed_task_records_why_its_unit_was_chosen(olga):
    docs = routed_type("least_loaded")
    register("worker-001", capacity=4)
    _, token = register("worker-002", capacity=4)
    task = create_task(by=olga, task_type=docs)

    claim(token, "worker-002")

    assign = Task.objects.get(pk=task.pk).history.get(transition="assign")
    assert assign.actor_name == "router"
    assert assign.reason.startswith("least_loaded: worker-00")
    assert "load 0/4" in assign.reason


def test_consistent_hash_keeps_a_reference_on_one_unit(olga):
    docs = routed_type("consistent_hash")
    register("worker-001", capacity=10)
    register("worker-002", capacity=10)
    register("worker-003", capacity=10)
    same = [create_task(by=olga, task_type=docs, reference="kb-42") for _ in range(4)]

    services.units_route(task_type_ids=[docs.pk])

    holders = {Task.objects.get(pk=t.pk).assignee_unit_id for t in same}
    assert len(holders) == 1


def test_failover_takes_the_first_live_unit_in_the_configured_order(olga):
    docs = routed_type("failover", order=["worker-002", "worker-001"])
    register("worker-001", capacity=5)
    second, _ = register("worker-002", capacity=5)
    task = create_task(by=olga, task_type=docs)

    services.units_route(task_type_ids=[docs.pk])
    assert str(task.pk) in held_by("worker-002")

    # worker-002 goes: its work fails over, and is routed to the next in the order.
    services.unit_drain(unit=second, by=TESTS)
    assert Task.objects.get(pk=task.pk).status == S.QUEUED
    services.units_route(task_type_ids=[docs.pk])
    assert str(task.pk) in held_by("worker-001")


def test_labels_filter_the_pool_and_work_no_unit_fits_waits_queued(olga):
    docs = routed_type("least_loaded", labels=["gpu"])
    register("worker-001", capacity=5, labels=["cpu"])
    task = create_task(by=olga, task_type=docs)

    assert services.units_route(task_type_ids=[docs.pk]) == 0
    assert Task.objects.get(pk=task.pk).status == S.QUEUED

    register("worker-gpu", capacity=5, labels=["gpu", "eu"])
    assert services.units_route(task_type_ids=[docs.pk]) == 1
    assert str(task.pk) in held_by("worker-gpu")


def test_routing_never_gives_a_unit_more_than_its_capacity(olga):
    docs = routed_type("round_robin")
    register("worker-001", capacity=1)
    register("worker-002", capacity=2)
    for _ in range(5):
        create_task(by=olga, task_type=docs)

    assert services.units_route(task_type_ids=[docs.pk]) == 3
    assert Task.objects.filter(status=S.QUEUED).count() == 2
    for unit in ExecutionUnit.objects.all():
        assert unit.held == unit.capacity


def test_a_paused_routed_type_routes_nothing(olga):
    docs = routed_type("round_robin")
    services.unit_queue_set(task_type=docs, by=TESTS, paused=True)
    register("worker-001", capacity=5)
    create_task(by=olga, task_type=docs)

    assert services.units_route(task_type_ids=[docs.pk]) == 0


def test_a_routed_types_running_limit_holds_across_units(olga):
    docs = routed_type("round_robin")
    services.unit_queue_set(task_type=docs, by=TESTS, max_running=3)
    register("worker-001", capacity=5)
    register("worker-002", capacity=5)
    for _ in range(6):
        create_task(by=olga, task_type=docs)

    assert services.units_route(task_type_ids=[docs.pk]) == 3
    assert services.units_route(task_type_ids=[docs.pk]) == 0


def test_the_sweep_routes_waiting_work_when_nobody_claims(olga):
    docs = routed_type("least_loaded")
    register("worker-001", capacity=5)
    task = create_task(by=olga, task_type=docs)

    assert services.units_sweep().routed == 1
    assert Task.objects.get(pk=task.pk).status == S.ASSIGNED


def test_a_silent_unit_loses_routed_work_to_the_next_in_order_in_one_sweep(settings, olga):
    settings.UNIT_HEARTBEAT_GRACE_SECONDS = 0
    docs = routed_type("failover", order=["worker-001", "worker-002"])
    register("worker-001", capacity=5, heartbeat_timeout=10)
    backup, _ = register("worker-002", capacity=5, heartbeat_timeout=10)
    task = create_task(by=olga, task_type=docs)
    services.units_route(task_type_ids=[docs.pk])
    assert str(task.pk) in held_by("worker-001")
    later = timezone.now() + timedelta(seconds=11)
    beats.record(backup.pk, load=0, metrics={}, at=later.timestamp())

    swept = services.units_sweep(now=later)

    assert (swept.offline, swept.failed_over, swept.routed) == (1, 1, 1)
    assert str(task.pk) in held_by("worker-002")
    assert list(Task.objects.get(pk=task.pk).history.values_list("transition", flat=True)) == [
        "create", "assign", "requeue", "assign"]


def test_the_dry_run_ranks_no_people_for_a_unit_types_task(olga, alice):
    # alice is staff with room: a staff strategy would rank her; a unit's ranks nobody here.
    for strategy in ("pull", "first", "health_first", "least_loaded"):
        docs = make_task_type(f"docs-{strategy}", assignee_kind="unit", strategy=strategy)
        task = create_task(by=olga, task_type=docs)
        response = api_client(olga).get(f"/api/v1/tasks/{task.pk}/candidates")
        assert response.status_code == 200 and response.json() == [], strategy


def test_work_routed_to_a_unit_that_never_starts_it_is_routed_again(settings, olga):
    docs = routed_type("failover", order=["worker-001", "worker-002"])
    units = [register(uid, capacity=5)[0] for uid in ("worker-001", "worker-002")]
    task = create_task(by=olga, task_type=docs)
    services.units_route(task_type_ids=[docs.pk])
    assert str(task.pk) in held_by("worker-001")
    # Both heartbeat (their leases renewed) but worker-001 never claims: the work goes back
    # once it has sat there longer than a lease, and is routed anew (by failover: to the
    # first live unit, worker-001 again, which is what the order says).
    later = timezone.now() + timedelta(seconds=settings.UNIT_LEASE_SECONDS + 1)
    for unit in units:
        beats.record(unit.pk, load=0, metrics={}, at=later.timestamp())
    services.units_sweep(now=later)
    history = list(Task.objects.get(pk=task.pk).history.values_list("transition", "reason"))
    assert history[-2][0] == "requeue" and history[-2][1].startswith("not started:")
    assert history[-1][0] == "assign"


def test_routing_with_nothing_queued_locks_no_unit(olga):
    docs = routed_type("round_robin")
    register("worker-001", capacity=5)
    _, token = register("worker-002", capacity=5)

    with CaptureQueriesContext(connection) as ctx:
        assert services.units_route(task_type_ids=[docs.pk]) == 0
    # Every claim of a routed type routes first: when the queue is empty (most claims), it
    # must not take every unit's row lock, which the other units' claims wait for.
    assert not [q for q in ctx.captured_queries if "FOR UPDATE" in q["sql"]]
    assert claim(token, "worker-002") == []
