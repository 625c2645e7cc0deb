"""The schedule's PeriodicTask follows every change, so beat applies it without a restart."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask, PeriodicTasks

from apps.core.actors import Actor
from apps.schedules import services
from apps.schedules.tasks import fire

from .conftest import make_schedule

pytestmark = pytest.mark.django_db
BY = Actor.system("tests")


def periodic_of(schedule) -> PeriodicTask:
    return PeriodicTask.objects.select_related("crontab", "interval", "clocked").get(
        pk=schedule.periodic_task_id)


def test_a_cron_schedule_gets_a_periodic_task_with_its_crontab_in_its_zone(report_type):
    schedule = make_schedule(report_type, cron="15 6 * * 1-5", timezone="Europe/Berlin")

    periodic = periodic_of(schedule)
    assert periodic.task == "schedules.fire" and json.loads(periodic.args) == [schedule.pk]
    assert periodic.enabled
    crontab = periodic.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("15", "6", "1-5")
    assert str(crontab.timezone) == "Europe/Berlin"


def test_an_edit_changes_the_periodic_task_row_and_tells_beat_of_the_change(report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *")
    before = PeriodicTasks.last_change()

    services.schedule_update(schedule_id=schedule.pk, changes={"interval_seconds": 90}, by=BY)

    periodic = periodic_of(schedule)
    assert periodic.crontab is None
    assert (periodic.interval.every, periodic.interval.period) == (90, "seconds")
    # What beat's DatabaseScheduler compares on each tick to reload its schedule.
    assert before is not None and PeriodicTasks.last_change() > before


def test_disabling_and_enabling_follow_on_the_periodic_task(report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *")

    services.schedule_set_enabled(schedule_id=schedule.pk, enabled=False, by=BY)
    assert periodic_of(schedule).enabled is False
    services.schedule_set_enabled(schedule_id=schedule.pk, enabled=True, by=BY)
    assert periodic_of(schedule).enabled is True


def test_a_one_moment_schedule_is_a_one_off_clocked_task(report_type):
    moment = timezone.now() + timedelta(hours=1)
    schedule = make_schedule(report_type, run_once_at=moment)

    periodic = periodic_of(schedule)
    assert periodic.one_off and periodic.clocked.clocked_time == moment


def test_deleting_a_schedule_deletes_its_periodic_task(report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *")
    periodic_id = schedule.periodic_task_id

    services.schedule_delete(schedule_id=schedule.pk, by=BY)

    assert not PeriodicTask.objects.filter(pk=periodic_id).exists()


def test_the_celery_task_beat_calls_spawns_through_the_service(report_type):
    schedule = make_schedule(report_type, interval_seconds=3600)
    schedule.anchor = timezone.now() - timedelta(seconds=3600)
    schedule.save(update_fields=["anchor"])

    task_id = fire.run(schedule.pk)

    assert task_id is not None
    assert fire.run(schedule.pk) is None


def test_a_schedules_firing_goes_to_the_critical_queue():
    from taskmanage.celery import app

    # Spawn lateness is the schedule's lateness: it never waits behind bulk work.
    assert app.amqp.router.route({}, "schedules.fire")["queue"].name == "critical"
