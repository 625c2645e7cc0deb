"""/metrics: schedule spawns by origin and beat's misfires by policy, after real firings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.schedules import services
from tests.builders import api_client
from tests.metrics import Metrics

from .conftest import make_schedule

pytestmark = pytest.mark.django_db

SLOT = datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_a_trigger_through_the_api_counts_one_spawn_once_committed(
        olga, report_type, client, settings, django_capture_on_commit_callbacks):
    schedule = make_schedule(report_type, cron="0 9 1 1 *")
    metrics = Metrics(client, settings)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(olga).post(f"/api/v1/schedules/{schedule.pk}/trigger")
    assert response.status_code == 201, response.content

    assert metrics.added("taskmanage_schedule_spawns_total", origin="trigger") == 1
    assert metrics.added("taskmanage_schedule_spawns_total", origin="beat") == 0


def test_late_firings_count_as_misfires_by_policy(report_type, client, settings,
                                                  django_capture_on_commit_callbacks):
    settings.SCHEDULES_MISFIRE_GRACE_SECONDS = 60
    skipping = make_schedule(report_type, cron="0 9 * * *", misfire="skip")
    catching_up = make_schedule(report_type, cron="0 9 * * *", misfire="run_once")
    metrics = Metrics(client, settings)

    with django_capture_on_commit_callbacks(execute=True):
        for schedule in (skipping, catching_up):
            services.schedule_fire(schedule_id=schedule.pk, now=SLOT + timedelta(hours=5))
        services.schedule_fire(schedule_id=skipping.pk, now=SLOT + timedelta(days=1, seconds=3))

    assert metrics.added("taskmanage_schedule_misfires_total", policy="skip") == 1
    assert metrics.added("taskmanage_schedule_misfires_total", policy="run_once") == 1
    # The catch-up and the next day's punctual firing spawned; the dropped one did not.
    assert metrics.added("taskmanage_schedule_spawns_total", origin="beat") == 2
