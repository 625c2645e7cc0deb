"""Parallel assignment workers on real PostgreSQL connections never break capacity."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Count

from apps.assignment import services
from apps.assignment.models import Assignment
from apps.staff.models import Staff
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus
from tests.builders import create_task, make_staff, make_task_type
from tests.concurrency import race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


@pytest.mark.parametrize("strategy", ["least_loaded", "round_robin", "optimal_batch"])
def test_workers_assigning_one_queue_at_once_respect_every_capacity(margaret, strategy):
    kind = make_task_type(strategy=strategy)
    heavy = make_task_type(strategy=strategy, capacity_weight=2)
    people = [make_staff(f"p{i}", capacity=3) for i in range(4)]  # room for 12 units
    for i in range(30):
        create_task(by=margaret, task_type=heavy if i % 3 == 0 else kind)

    # Small batches, so the workers interleave rather than one taking the whole queue.
    outcomes = race(4, lambda i: [services.assign_queued(limit=3).assigned for _ in range(10)])

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    # Workers skip people another worker holds; what they skipped is taken by later runs.
    while services.assign_queued(limit=50).assigned:
        pass
    for staff in Staff.objects.filter(pk__in=[p.pk for p in people]):
        held = Task.objects.filter(assignee_user=staff.user, status=TaskStatus.ASSIGNED)
        weight = sum(t.task_type.capacity_weight for t in held.select_related("task_type"))
        assert staff.load == weight <= staff.capacity
    # nobody's task was assigned twice, and the queue was used up to the capacity available
    assert not Assignment.objects.values("task").annotate(n=Count("id")).filter(n__gt=1)
    assigned_weight = sum(p.load for p in Staff.objects.all())
    assert assigned_weight >= 11  # 12 units of room; a weight-2 task may not fit the last one
