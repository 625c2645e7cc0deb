"""Two schedulers firing one planned time at once, on real PostgreSQL connections."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from apps.schedules import services
from apps.schedules.models import Spawn
from apps.tasks.models import Task
from tests.concurrency import race

from .conftest import make_schedule

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrency needs "
                                                                  "PostgreSQL"),
]


def test_schedulers_racing_on_one_planned_time_spawn_one_task(report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *", overlap="allow")
    at = datetime(2026, 12, 1, 9, 0, 1, tzinfo=UTC)

    outcomes = race(6, lambda i: services.schedule_fire(schedule_id=schedule.pk, now=at))

    assert not [o for o in outcomes if isinstance(o, Exception)]
    assert sum(o is not None for o in outcomes) == 1
    assert Spawn.objects.filter(schedule=schedule).count() == 1
    assert Task.objects.filter(task_type=report_type).count() == 1


def test_racing_replace_runs_cancel_the_open_task_once(report_type):
    schedule = make_schedule(report_type, cron="* * * * *", overlap="replace")
    services.schedule_fire(schedule_id=schedule.pk,
                           now=datetime(2026, 12, 1, 9, 0, 1, tzinfo=UTC))
    at = datetime(2026, 12, 1, 9, 1, 1, tzinfo=UTC)

    outcomes = race(4, lambda i: services.schedule_fire(schedule_id=schedule.pk, now=at))

    assert not [o for o in outcomes if isinstance(o, Exception)]
    assert sorted(Task.objects.filter(task_type=report_type)
                  .values_list("status", flat=True)) == ["cancelled", "queued"]
