"""Spawning: once per planned time, overlap and misfire policies, backfill, fixed delay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.exceptions import InvalidInput
from apps.schedules import services
from apps.schedules.models import Spawn
from apps.tasks import services as task_services
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus

from .conftest import make_schedule

S = TaskStatus
pytestmark = pytest.mark.django_db
SLOT = datetime(2026, 12, 1, 9, tzinfo=UTC)  # 10:00 in Berlin


def fire(schedule, at):
    return services.schedule_fire(schedule_id=schedule.pk, now=at)


def close(task_id):
    task_services.task_transition(task_id=task_id, action="cancel", by=Actor.system("tests"))


def test_a_firing_spawns_one_task_titled_with_its_planned_time_in_the_zone(report_type):
    schedule = make_schedule(report_type, cron="0 10 * * *", timezone="Europe/Berlin",
                             payload={"kind": "daily"}, labels=["nightly"], reference="r-1")

    spawn = fire(schedule, SLOT + timedelta(seconds=2))

    task = Task.objects.get(pk=spawn.task_id)
    assert spawn.planned_time == SLOT
    assert task.title == "Report 2026-12-01 10:00"
    assert (task.payload, task.labels, task.reference) == ({"kind": "daily"}, ["nightly"], "r-1")


def test_a_second_firing_for_the_same_slot_spawns_nothing(report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *")

    first = fire(schedule, SLOT)
    second = fire(schedule, SLOT + timedelta(seconds=5))

    assert first is not None and second is None
    assert Spawn.objects.filter(schedule=schedule).count() == 1
    assert Task.objects.filter(task_type=report_type).count() == 1


def test_a_disabled_schedule_spawns_nothing(report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *", enabled=False)

    assert fire(schedule, SLOT) is None
    assert not Spawn.objects.exists()


def test_overlap_skip_spawns_nothing_while_the_previous_task_is_open(report_type):
    schedule = make_schedule(report_type, interval_seconds=60, overlap="skip")
    first = fire(schedule, schedule.anchor + timedelta(seconds=60))

    skipped = fire(schedule, schedule.anchor + timedelta(seconds=120))
    close(first.task_id)
    third = fire(schedule, schedule.anchor + timedelta(seconds=180))

    assert skipped.task_id is None and "still open" in skipped.skipped
    assert third.task_id is not None
    assert Task.objects.filter(task_type=report_type).count() == 2


def test_overlap_replace_cancels_the_open_task_and_spawns_the_new_one(report_type):
    schedule = make_schedule(report_type, interval_seconds=60, overlap="replace")
    first = fire(schedule, schedule.anchor + timedelta(seconds=60))

    second = fire(schedule, schedule.anchor + timedelta(seconds=120))

    assert Task.objects.get(pk=first.task_id).status == S.CANCELLED
    assert Task.objects.get(pk=second.task_id).status not in (S.CANCELLED, S.FAILED)


def test_overlap_allow_lets_runs_pile_up(report_type):
    schedule = make_schedule(report_type, interval_seconds=60, overlap="allow")

    for k in (1, 2, 3):
        fire(schedule, schedule.anchor + timedelta(seconds=60 * k))

    assert Task.objects.filter(task_type=report_type, status__in=[S.QUEUED]).count() == 3


def test_misfire_skip_drops_a_run_beat_fires_long_after_its_time(report_type, settings):
    settings.SCHEDULES_MISFIRE_GRACE_SECONDS = 60
    schedule = make_schedule(report_type, cron="0 9 * * *", misfire="skip")

    after_downtime = fire(schedule, SLOT + timedelta(hours=5))
    next_day = fire(schedule, SLOT + timedelta(days=1, seconds=3))

    assert after_downtime is None
    assert next_day.planned_time == SLOT + timedelta(days=1)


def test_misfire_run_once_catches_up_with_one_run_for_all_it_missed(report_type, settings):
    settings.SCHEDULES_MISFIRE_GRACE_SECONDS = 60
    schedule = make_schedule(report_type, cron="0 * * * *", misfire="run_once")

    # Down from 09:00 to 14:20: five hourly runs missed, one catch-up for the latest.
    caught_up = fire(schedule, SLOT + timedelta(hours=5, minutes=20))
    again = fire(schedule, SLOT + timedelta(hours=5, minutes=21))

    assert caught_up.planned_time == SLOT + timedelta(hours=5)
    assert again is None
    assert Task.objects.filter(task_type=report_type).count() == 1


def test_backfill_in_parallel_spawns_one_independent_task_per_planned_time(report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *")

    spawns = services.schedule_backfill(schedule_id=schedule.pk, start=SLOT,
                                        end=SLOT + timedelta(days=2), serial=False,
                                        by=Actor.system("tests"))

    assert [s.planned_time for s in spawns] == [SLOT + timedelta(days=d) for d in range(3)]
    assert {Task.objects.get(pk=s.task_id).status for s in spawns} == {S.QUEUED}


def test_backfill_serially_makes_each_task_wait_for_the_one_before(report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *")

    spawns = services.schedule_backfill(schedule_id=schedule.pk, start=SLOT,
                                        end=SLOT + timedelta(days=2), serial=True,
                                        by=Actor.system("tests"))

    tasks = [Task.objects.get(pk=s.task_id) for s in spawns]
    assert [t.status for t in tasks] == [S.QUEUED, S.BLOCKED, S.BLOCKED]
    assert list(tasks[2].depends_on.values_list("pk", flat=True)) == [tasks[1].pk]


def test_backfill_skips_planned_times_already_spawned(report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *")
    fire(schedule, SLOT + timedelta(days=1))

    spawns = services.schedule_backfill(schedule_id=schedule.pk, start=SLOT,
                                        end=SLOT + timedelta(days=2), serial=False,
                                        by=Actor.system("tests"))

    assert [s.planned_time for s in spawns] == [SLOT, SLOT + timedelta(days=2)]
    assert Task.objects.filter(task_type=report_type).count() == 3


def test_a_serial_backfill_chains_through_runs_that_already_exist(report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *")
    existing = fire(schedule, SLOT + timedelta(days=1))  # beat ran this one already

    spawns = services.schedule_backfill(schedule_id=schedule.pk, start=SLOT,
                                        end=SLOT + timedelta(days=3), serial=True,
                                        by=Actor.system("tests"))

    assert [s.planned_time for s in spawns] == [SLOT, SLOT + timedelta(days=2),
                                                SLOT + timedelta(days=3)]
    first, after, last = (Task.objects.get(pk=s.task_id) for s in spawns)
    assert list(after.depends_on.values_list("pk", flat=True)) == [existing.task_id]
    assert after.status == S.BLOCKED
    assert list(last.depends_on.values_list("pk", flat=True)) == [after.pk]
    assert not first.depends_on.exists()


def test_a_serial_backfill_starting_on_an_existing_run_waits_for_it(report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *")
    existing = fire(schedule, SLOT)

    (spawn,) = services.schedule_backfill(schedule_id=schedule.pk, start=SLOT,
                                          end=SLOT + timedelta(days=1), serial=True,
                                          by=Actor.system("tests"))

    task = Task.objects.get(pk=spawn.task_id)
    assert list(task.depends_on.values_list("pk", flat=True)) == [existing.task_id]


def test_a_backfill_over_the_autumn_change_spawns_the_repeated_time_once(report_type):
    schedule = make_schedule(report_type, cron="30 1 * * *", timezone="America/New_York")

    spawns = services.schedule_backfill(
        schedule_id=schedule.pk, start=datetime(2026, 10, 31, 12, tzinfo=UTC),
        end=datetime(2026, 11, 2, 12, tzinfo=UTC), serial=False, by=Actor.system("tests"))

    # 1 November 01:30 happens twice in New York; beat fires the first (EDT) only.
    assert [s.planned_time for s in spawns] == [datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
                                                datetime(2026, 11, 2, 6, 30, tzinfo=UTC)]
    assert Task.objects.get(pk=spawns[0].task_id).title == "Report 2026-11-01 01:30"


def test_next_runs_over_the_autumn_change_list_the_repeated_time_once(report_type):
    schedule = make_schedule(report_type, cron="30 1 * * *", timezone="Europe/London")

    runs = services.next_runs(schedule=schedule, count=3,
                              after=datetime(2026, 10, 24, 12, tzinfo=UTC))

    assert [t.isoformat() for t in runs] == [
        "2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00", "2026-10-27T01:30:00+00:00"]


def test_beats_firing_of_a_time_the_spring_change_skips_spawns_it(report_type):
    # 02:30 does not exist in Berlin on 29 March; beat fires it at 03:30 CEST (01:30 UTC).
    schedule = make_schedule(report_type, cron="30 2 * * *", timezone="Europe/Berlin",
                             misfire="skip")

    spawn = fire(schedule, datetime(2026, 3, 29, 1, 30, 0, 300_000, tzinfo=UTC))

    assert spawn is not None and spawn.task_id is not None  # on time, not a misfire
    assert spawn.planned_time == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert fire(schedule, datetime(2026, 3, 29, 2, 0, tzinfo=UTC)) is None  # once that day


def test_a_backfill_over_too_many_runs_is_refused_whole(report_type, settings):
    settings.SCHEDULES_BACKFILL_MAX_RUNS = 10
    schedule = make_schedule(report_type, cron="* * * * *")

    with pytest.raises(InvalidInput) as refused:
        services.schedule_backfill(schedule_id=schedule.pk, start=SLOT,
                                   end=SLOT + timedelta(hours=1), serial=False,
                                   by=Actor.system("tests"))

    assert list(refused.value.fields) == ["end"]
    assert not Spawn.objects.exists()


def test_a_fixed_delay_schedule_runs_a_delay_after_its_previous_task_ended(report_type):
    schedule = make_schedule(report_type, delay_seconds=300)
    first = fire(schedule, schedule.anchor + timedelta(seconds=300))

    while_open = fire(schedule, schedule.anchor + timedelta(hours=1))
    close(first.task_id)
    ended = Task.objects.get(pk=first.task_id).finished_at or timezone.now()
    too_soon = fire(schedule, ended + timedelta(seconds=100))
    on_time = fire(schedule, ended + timedelta(seconds=301))

    assert while_open is None and too_soon is None
    assert on_time.task_id is not None
    assert abs((on_time.planned_time - ended).total_seconds() - 300) < 2


def test_a_run_once_schedule_spawns_at_its_moment_and_never_again(report_type):
    moment = timezone.now().replace(microsecond=0) + timedelta(minutes=5)
    schedule = make_schedule(report_type, run_once_at=moment)

    early = fire(schedule, moment - timedelta(minutes=1))
    spawned = fire(schedule, moment)
    later = fire(schedule, moment + timedelta(seconds=30))

    assert early is None and later is None
    assert spawned.planned_time == moment


def test_trigger_spawns_now_whatever_the_schedule_says(report_type):
    schedule = make_schedule(report_type, cron="0 9 1 1 *")

    spawn = services.schedule_trigger(schedule_id=schedule.pk, by=Actor.system("tests"))

    assert spawn.origin == "trigger" and spawn.task_id is not None
    assert abs((spawn.planned_time - timezone.now()).total_seconds()) < 5


def test_an_interval_whose_beat_drifted_off_the_anchor_still_spawns_with_misfire_skip(
        report_type, settings):
    # Beat counts an interval from its own last run (after a restart, an enable): its
    # firings land late on the anchor's slots. They are not misfires: each one spawns.
    settings.SCHEDULES_MISFIRE_GRACE_SECONDS = 60
    schedule = make_schedule(report_type, interval_seconds=3600, misfire="skip")

    spawned = [fire(schedule, schedule.anchor + timedelta(hours=k, seconds=600))
               for k in range(1, 5)]

    assert all(s is not None and s.task_id for s in spawned)
    assert len({s.planned_time for s in spawned}) == 4


def test_a_fixed_delay_run_long_overdue_after_downtime_runs_once_beat_is_back(
        report_type, settings):
    settings.SCHEDULES_MISFIRE_GRACE_SECONDS = 60
    schedule = make_schedule(report_type, delay_seconds=300, misfire="skip")

    late = fire(schedule, schedule.anchor + timedelta(hours=2))

    assert late is not None and late.task_id is not None


def test_a_cron_naming_a_day_of_month_and_a_weekday_needs_both_as_beat_does(report_type):
    # Celery's crontab reads `0 0 1 * 1` as "the 1st, when it is a Monday"; croniter alone
    # would read "the 1st, or any Monday", listing runs beat never fires.
    schedule = make_schedule(report_type, cron="0 0 1 * 1")

    runs = services.next_runs(schedule=schedule, count=2,
                              after=datetime(2026, 1, 1, tzinfo=UTC))

    assert [r.date().isoformat() for r in runs] == ["2026-06-01", "2027-02-01"]
