"""Units claiming at once, on real PostgreSQL connections (threads, one connection each)."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection

from apps.execution import services
from apps.execution.models import ExecutionUnit
from apps.tasks.models import Task, TaskHistory
from apps.tasks.states import TaskStatus as S
from tests.builders import create_task
from tests.concurrency import eventually, race
from tests.execution.conftest import register

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def connections_to_this_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_fifty_units_claiming_a_hundred_tasks_lease_each_once_within_capacity(olga, docs):
    for _ in range(100):
        create_task(by=olga, task_type=docs)
    units = [register(f"worker-{i:03}", capacity=3)[0] for i in range(50)]

    def claim_until_full(i: int) -> list[str]:
        unit = units[i]
        got: list[str] = []
        while batch := services.tasks_claim(unit=unit, max_tasks=2,
                                            by=services.unit_actor(unit=unit)):
            got += [str(t.pk) for t in batch]
        return got

    outcomes = race(50, claim_until_full)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    # The race's 50 connections are closed with it: left open, they starved the other test
    # worker of connections (max_connections) for minutes. A closed connection's server
    # process takes a moment to leave pg_stat_activity on a loaded machine: seconds, not
    # minutes.
    assert eventually(lambda: connections_to_this_database() < 10, seconds=15)
    claimed = [task_id for got in outcomes for task_id in got]
    assert len(claimed) == len(set(claimed)) == 100
    assert Task.objects.filter(status=S.RUNNING, assignee_unit__isnull=False).count() == 100
    leases = Counter(TaskHistory.objects.filter(transition="assign").values_list("task_id",
                                                                                   flat=True))
    assert set(leases.values()) == {1}
    for unit in ExecutionUnit.objects.all():
        held = Task.objects.filter(assignee_unit=unit, status=S.RUNNING).count()
        assert unit.held == held <= unit.capacity


def test_units_claiming_at_once_never_pass_a_types_running_limit(olga, docs):
    from apps.execution.services import unit_queue_set

    for _ in range(30):
        create_task(by=olga, task_type=docs)
    unit_queue_set(task_type=docs, by=services.SWEEPER, max_running=3)
    units = [register(f"worker-{i:03}", capacity=5)[0] for i in range(10)]

    outcomes = race(10, lambda i: services.tasks_claim(
        unit=units[i], max_tasks=5, by=services.unit_actor(unit=units[i])))

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sum(len(o) for o in outcomes) == 3
    assert Task.objects.filter(task_type=docs, status=S.RUNNING).count() == 3
