"""The admin edits through the services (beat follows) and shows next runs and last spawns;
the `schedules` command lists, triggers and backfills."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_celery_beat.models import PeriodicTask

from apps.schedules.models import Schedule, Spawn
from apps.tasks.models import Task

from .conftest import make_schedule

pytestmark = pytest.mark.django_db


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form(report_type, **extra):
    return {"name": "weekly", "task_type": report_type.pk, "title": "Week {planned:%W}",
            "payload": "{}", "labels": "[]", "enabled": "on", "overlap": "allow",
            "misfire": "skip", "cron": "0 6 * * 1", "timezone": "Europe/Berlin",
            "reference": "", "spawns-TOTAL_FORMS": "0", "spawns-INITIAL_FORMS": "0", **extra}


def test_an_admin_adds_a_schedule_and_its_periodic_task_follows(olga, report_type):
    response = admin_client(olga).post("/admin/schedules/schedule/add/", form(report_type))

    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = Schedule.objects.get(name="weekly")
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).crontab.hour == "6"


def test_a_bad_cron_in_the_admin_is_an_error_on_the_field(olga, report_type):
    response = admin_client(olga).post("/admin/schedules/schedule/add/",
                                       form(report_type, cron="0 6 * *"))

    assert response.status_code == 200
    assert "five fields" in response.content.decode()
    assert not Schedule.objects.exists()


def test_the_change_page_shows_next_runs_and_the_last_spawns(olga, report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *", name="daily")
    client = admin_client(olga)
    client.post("/admin/schedules/schedule/", {"action": "trigger",
                                               "_selected_action": [schedule.pk]})

    page = client.get(f"/admin/schedules/schedule/{schedule.pk}/change/").content.decode()
    listing = client.get("/admin/schedules/schedule/").content.decode()

    spawn = Spawn.objects.get(schedule=schedule)
    assert f"/admin/tasks/task/{spawn.task_id}/change/" in page
    assert page.count("T09:00:00+00:00") >= 5
    assert "daily" in listing and "cron 0 9 * * * (UTC)" in listing


def test_staff_without_admin_rights_do_not_get_in(alice, report_type):
    schedule = make_schedule(report_type)
    response = admin_client(alice).get(f"/admin/schedules/schedule/{schedule.pk}/change/")
    assert response.status_code == 302  # to the admin's login


def test_the_command_lists_triggers_and_backfills(report_type):
    make_schedule(report_type, cron="0 9 * * *", name="daily")
    out = StringIO()

    call_command("schedules", "list", stdout=out)
    call_command("schedules", "trigger", "daily", stdout=out)
    call_command("schedules", "backfill", "daily", "--start", "2026-11-01T00:00:00+00:00",
                 "--end", "2026-11-03T23:00:00+00:00", "--serial", stdout=out)

    text = out.getvalue()
    assert "daily\t0 9 * * * UTC\tenabled" in text
    assert "3 task(s) spawned." in text
    assert Task.objects.filter(task_type=report_type).count() == 4
    with pytest.raises(CommandError):
        call_command("schedules", "trigger", "nope")
    with pytest.raises(CommandError):
        call_command("schedules", "backfill", "daily", "--start", "x", "--end", "y")


def test_an_edit_in_the_admin_goes_through_the_service_and_beat_follows(olga, report_type):
    schedule = make_schedule(report_type, cron="0 6 * * 1", name="weekly")

    response = admin_client(olga).post(
        f"/admin/schedules/schedule/{schedule.pk}/change/",
        form(report_type, cron="", interval_seconds="120"))

    assert response.status_code == 302, response.content.decode()[:2000]
    periodic = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert periodic.crontab is None and periodic.interval.every == 120
