"""/api/v1/schedules: who may, validation into 400s naming the field, the actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django_celery_beat.models import PeriodicTask

from apps.schedules.models import Schedule, Spawn
from apps.tasks.models import Task
from tests.builders import api_client, field_errors
from tests.execution.conftest import register, unit_client

from .conftest import make_schedule

pytestmark = pytest.mark.django_db
URL = "/api/v1/schedules"


def body(**extra):
    return {"name": "nightly report", "task_type": "report",
            "title": "Report {planned:%Y-%m-%d}", "cron": "0 2 * * *",
            "timezone": "Europe/Berlin", "priority": "high", "labels": ["nightly"],
            "payload": {"scope": "all"}, **extra}


def test_an_admin_creates_a_schedule_and_reads_its_next_run(olga, report_type):
    response = api_client(olga).post(URL, body(), format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["cron"], data["timezone"], data["priority"]) == ("0 2 * * *",
                                                                  "Europe/Berlin", "high")
    assert data["next_run_at"].endswith(("+01:00", "+02:00"))
    assert data["last_spawned_at"] is None
    assert PeriodicTask.objects.filter(pk=Schedule.objects.get().periodic_task_id).exists()


def test_a_manager_may_create_too(margaret, report_type):
    assert api_client(margaret).post(URL, body(), format="json").status_code == 201


@pytest.mark.parametrize("change, field", [
    ({"cron": "61 * * * *"}, "cron"),
    ({"cron": "every day"}, "cron"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"title": "Report {when}"}, "title"),
    ({"task_type": "nope"}, "task_type"),
    ({"overlap": "sometimes"}, "overlap"),
    ({"interval_seconds": 0, "cron": None}, "interval_seconds"),
    ({"interval_seconds": 60}, "non_field_errors"),
    ({"cron": None}, "non_field_errors"),
    ({"payload": [1, 2]}, "payload"),
    ({"status": "x"}, "status"),
])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(olga, report_type, change,
                                                                field):
    response = api_client(olga).post(URL, body(**change), format="json")

    assert response.status_code == 400, response.content
    assert field in field_errors(response)
    assert not Schedule.objects.exists() and not PeriodicTask.objects.filter(
        task="schedules.fire").exists()


def test_a_duplicate_name_is_a_400_naming_name(olga, report_type):
    api_client(olga).post(URL, body(), format="json")
    response = api_client(olga).post(URL, body(), format="json")
    assert response.status_code == 400 and "name" in field_errors(response)


def test_staff_read_but_may_not_create_or_change(alice, report_type):
    schedule = make_schedule(report_type)
    client = api_client(alice)

    assert client.get(URL).status_code == 200
    assert client.get(f"{URL}/{schedule.pk}/next").status_code == 200
    assert client.post(URL, body(), format="json").status_code == 403
    for verb in ("enable", "disable", "trigger"):
        assert client.post(f"{URL}/{schedule.pk}/{verb}").status_code == 403
    assert client.patch(f"{URL}/{schedule.pk}", {"cron": "0 3 * * *"},
                        format="json").status_code == 403
    assert client.delete(f"{URL}/{schedule.pk}").status_code == 403
    assert not Task.objects.exists()


def test_anonymous_callers_and_units_get_nothing(report_type):
    schedule = make_schedule(report_type)
    _, token = register("unit-1", unit_type="report")

    assert api_client().get(URL).status_code in (401, 403)
    unit = unit_client(token)
    assert unit.get(URL).status_code == 403
    assert unit.post(f"{URL}/{schedule.pk}/trigger").status_code == 403


def test_an_edit_over_the_api_changes_the_periodic_task(olga, report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *")

    response = api_client(olga).patch(f"{URL}/{schedule.pk}", {"interval_seconds": 300},
                                      format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["cron"], response.json()["interval_seconds"]) == (None, 300)
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).interval.every == 300


def test_disable_and_enable(olga, report_type):
    schedule = make_schedule(report_type)
    client = api_client(olga)

    off = client.post(f"{URL}/{schedule.pk}/disable").json()
    assert off["enabled"] is False and off["next_run_at"] is None
    assert client.post(f"{URL}/{schedule.pk}/enable").json()["enabled"] is True


def test_trigger_spawns_a_task_now_and_the_schedule_shows_it(olga, report_type):
    schedule = make_schedule(report_type)

    response = api_client(olga).post(f"{URL}/{schedule.pk}/trigger")

    assert response.status_code == 201
    assert Task.objects.filter(pk=response.json()["task"]).exists()
    assert api_client(olga).get(f"{URL}/{schedule.pk}").json()["last_spawned_at"]


def test_next_runs_are_in_the_schedules_zone_and_count_is_bounded(alice, report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *", timezone="Europe/Berlin")
    client = api_client(alice)

    data = client.get(f"{URL}/{schedule.pk}/next?count=3").json()
    assert data["timezone"] == "Europe/Berlin" and len(data["next"]) == 3
    assert all("T09:00:00+0" in t for t in data["next"])
    for bad in ("0", "51", "x"):
        response = client.get(f"{URL}/{schedule.pk}/next?count={bad}")
        assert response.status_code == 400 and "count" in field_errors(response)


def test_backfill_over_a_past_range(olga, report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *")
    start = datetime(2026, 11, 1, tzinfo=UTC)

    response = api_client(olga).post(
        f"{URL}/{schedule.pk}/backfill",
        {"start": start.isoformat(), "end": (start + timedelta(days=3)).isoformat(),
         "mode": "serial"}, format="json")

    assert response.status_code == 201, response.content
    assert len(response.json()["spawned"]) == 3
    assert Spawn.objects.filter(schedule=schedule, origin="backfill").count() == 3


@pytest.mark.parametrize("payload, field", [
    ({"start": "2026-11-03T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, "end"),
    ({"start": "2026-01-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}, "end"),
    ({"start": "yesterday", "end": "2026-11-01T00:00:00Z"}, "start"),
    ({"start": "2026-11-01T00:00:00Z"}, "end"),
])
def test_a_bad_backfill_is_a_400_naming_the_field(olga, report_type, settings, payload, field):
    settings.SCHEDULES_BACKFILL_MAX_RUNS = 100
    schedule = make_schedule(report_type, cron="0 9 * * *")

    response = api_client(olga).post(f"{URL}/{schedule.pk}/backfill", payload, format="json")

    assert response.status_code == 400 and field in field_errors(response)
    assert not Spawn.objects.exists()


def test_delete_removes_the_schedule_and_its_periodic_task(olga, report_type):
    schedule = make_schedule(report_type)

    assert api_client(olga).delete(f"{URL}/{schedule.pk}").status_code == 204
    assert not Schedule.objects.exists()
    assert not PeriodicTask.objects.filter(pk=schedule.periodic_task_id).exists()
