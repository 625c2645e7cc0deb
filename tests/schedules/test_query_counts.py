"""A page of schedules costs the same queries for 1 schedule as for 50: the next run of a
fixed-delay schedule (which depends on its latest spawn's task) and the last spawn come from
queries for the whole page, not one per row."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.core.actors import Actor
from apps.schedules import services
from apps.schedules.models import Schedule
from apps.tasks import services as task_services
from tests.builders import api_client

from .conftest import make_schedule

pytestmark = pytest.mark.django_db


def delay_schedules(task_type, count: int, *, start: int = 0) -> None:
    """Fixed-delay schedules, each with a spawned task (open or ended: both are read)."""
    by = Actor.system("tests")
    for n in range(start, start + count):
        schedule = make_schedule(task_type, name=f"delay {n:03}", delay_seconds=60 + n)
        spawn = services.schedule_trigger(schedule_id=schedule.pk, by=by)
        if n % 2:
            task_services.task_transition(task_id=spawn.task_id, action="cancel", by=by)
    # The other kinds on the page too: they must not add queries either.
    for kind in ({"cron": "0 9 * * *"}, {"interval_seconds": 300}):
        make_schedule(task_type, name=f"other {start} {next(iter(kind))}", **kind)


def count_queries(read) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as captured:
        body = read()
    return len(captured.captured_queries), body


def api_list(user):
    def read():
        response = api_client(user).get("/api/v1/schedules?page_size=100")
        assert response.status_code == 200
        return response.content.decode()
    return read


def admin_list(user):
    client = Client()
    client.force_login(user)

    def read():
        response = client.get("/admin/schedules/schedule/")
        assert response.status_code == 200
        return response.content.decode()
    return read


def command_list():
    out = StringIO()
    call_command("schedules", "list", stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("reader", ["api", "admin", "command"])
def test_a_page_of_fixed_delay_schedules_costs_the_same_for_1_or_50(olga, report_type,
                                                                    reader):
    read = {"api": lambda: api_list(olga), "admin": lambda: admin_list(olga),
            "command": lambda: command_list}[reader]()
    delay_schedules(report_type, 1)
    read()  # warm: sessions, content types and other per-process caches
    few, _ = count_queries(read)

    delay_schedules(report_type, 49, start=1)
    many, body = count_queries(read)

    assert "delay 049" in body
    assert many == few, f"{few} queries for 1 schedule, {many} for 50"


def test_the_api_list_shows_each_fixed_delay_schedules_next_run_from_its_own_spawn(
        alice, report_type):
    delay_schedules(report_type, 4)

    rows = {row["name"]: row for row in api_client(alice).get(
        "/api/v1/schedules?page_size=100").json()["results"]}

    for n in range(4):
        schedule = Schedule.objects.get(name=f"delay {n:03}")
        expected = services.next_runs(schedule=schedule, count=1)  # its own query
        row = rows[f"delay {n:03}"]
        assert row["next_run_at"] == (expected[0].isoformat() if expected else None)
        assert row["last_spawned_at"] is not None
    assert rows["delay 000"]["next_run_at"] is None  # its task is open: no next run yet
    assert rows["delay 001"]["next_run_at"] is not None  # cancelled: a delay after it ended
