"""Planned times: cron in a named zone across DST changes, interval slots, title templates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django_celery_beat.tzcrontab import TzAwareCrontab

from apps.core.exceptions import InvalidInput
from apps.schedules import timing

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_daily_cron_in_berlin_keeps_its_local_hour_across_the_spring_change():
    runs = timing.cron_after("0 9 * * *", BERLIN, datetime(2026, 3, 28, 12, tzinfo=UTC))
    first, second = next(runs), next(runs)

    assert (first.astimezone(BERLIN).hour, second.astimezone(BERLIN).hour) == (9, 9)
    # 09:00 is 07:00 UTC in summer time, 08:00 UTC the day before the change.
    assert first.astimezone(UTC) == datetime(2026, 3, 29, 7, tzinfo=UTC)
    assert second - first == timedelta(days=1)


def test_an_hourly_cron_across_the_autumn_change_runs_each_wall_clock_hour_once():
    runs = timing.cron_after("0 * * * *", BERLIN, datetime(2026, 10, 24, 22, 30, tzinfo=UTC))
    utc = [next(runs).astimezone(UTC) for _ in range(4)]

    # 01:00 CEST, 02:00 CEST, then 03:00 CET: the repeated 02:00 (CET) is not a second run,
    # as beat does not fire it (see test_next_runs_are_what_beat_fires below).
    assert utc == [datetime(2026, 10, 24, 23, tzinfo=UTC)] + [
        datetime(2026, 10, 25, h, tzinfo=UTC) for h in (0, 2, 3)]


def test_a_time_the_spring_change_skips_runs_once_that_day_an_hour_of_clock_later():
    runs = timing.cron_after("30 2 * * *", BERLIN, datetime(2026, 3, 28, 12, tzinfo=UTC))
    on_the_day = next(runs)

    # 02:30 does not exist on 29 March: it runs at 03:30 CEST (02:30 at the winter offset).
    assert on_the_day.astimezone(BERLIN).isoformat() == "2026-03-29T03:30:00+02:00"
    assert next(runs).astimezone(BERLIN).isoformat() == "2026-03-30T02:30:00+02:00"


@pytest.mark.parametrize("zone, fall_back, first", [
    ("America/New_York", datetime(2026, 11, 1, tzinfo=UTC), "2026-11-01T01:30:00-04:00"),
    ("Europe/London", datetime(2026, 10, 25, tzinfo=UTC), "2026-10-25T01:30:00+01:00"),
])
def test_a_daily_cron_in_the_repeated_hour_runs_once_at_its_first_reading(zone, fall_back,
                                                                          first):
    tz = ZoneInfo(zone)
    runs = timing.cron_after("30 1 * * *", tz, fall_back - timedelta(days=1))
    listed = [next(runs).astimezone(tz) for _ in range(3)]

    assert [t.date().isoformat() for t in listed] == [
        (fall_back + timedelta(days=d)).date().isoformat() for d in (-1, 0, 1)]
    assert listed[1].isoformat() == first


# Beat itself, driven by a clock of our own: django-celery-beat's TzAwareCrontab (what its
# DatabaseScheduler builds from a schedule's CrontabSchedule), asked whether it is due as
# beat's loop asks it. Beat sleeps the wait the entry names, at most 5 s; this clock jumps by
# that wait too, but up to 300 s, and lands on the same firings (compared with 5 s steps
# over these cases) in a sixtieth of the steps.
def beat_firings(expression: str, zone: ZoneInfo, start: datetime, end: datetime):
    minute, hour, day_of_month, month, day_of_week = expression.split()
    clock = [start]

    class Beat(TzAwareCrontab):
        def nowfunc(self):
            return clock[0].astimezone(self.tz)

    entry = Beat(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month,
                 day_of_week=day_of_week, tz=zone)
    last_run, fired = start, []
    while clock[0] < end:
        due, wait = entry.is_due(last_run)
        if due:
            fired.append(clock[0])
            last_run = clock[0]
        clock[0] += timedelta(seconds=min(max(wait, 0.5), 300))
    return fired


DST_CASES = [
    # autumn: the repeated hour
    ("30 1 * * *", "America/New_York", datetime(2026, 10, 31, 12, tzinfo=UTC)),
    ("30 1 * * *", "Europe/London", datetime(2026, 10, 24, 12, tzinfo=UTC)),
    ("0 * * * *", "Europe/Berlin", datetime(2026, 10, 24, 22, tzinfo=UTC)),
    ("0,30 1,2 * * *", "America/New_York", datetime(2026, 11, 1, 3, tzinfo=UTC)),
    ("45 1 * * *", "Australia/Lord_Howe", datetime(2026, 4, 4, 10, tzinfo=UTC)),  # 30 min
    # spring: the skipped hour
    ("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC)),
    ("30 2 * * *", "America/New_York", datetime(2026, 3, 7, 12, tzinfo=UTC)),
    ("*/20 * * * *", "Europe/London", datetime(2026, 3, 29, 0, tzinfo=UTC)),
    ("0,30 2,3 * * *", "America/New_York", datetime(2026, 3, 8, 5, tzinfo=UTC)),
]


@pytest.mark.parametrize("expression, zone, start", DST_CASES)
def test_next_runs_are_what_beat_fires_across_a_dst_change(expression, zone, start):
    tz = ZoneInfo(zone)
    end = start + timedelta(hours=5 if expression.startswith(("0 *", "*/", "0,30")) else 48)
    fired = beat_firings(expression, tz, start, end)

    listed = []
    for when in timing.cron_after(expression, tz, start):
        if when >= end:
            break
        listed.append(when)

    assert listed == fired
    # and each firing names its own slot, on time or a little late
    for when in fired:
        assert timing.cron_latest(expression, tz, when) == when
        assert timing.cron_latest(expression, tz, when + timedelta(seconds=40)) == when


def test_a_cron_naming_only_a_skipped_time_runs_each_year_and_never_hangs():
    # The last Sunday of March at 02:30: in Berlin that time never exists.
    expression = "30 2 25-31 3 0"
    runs = timing.cron_after(expression, BERLIN, datetime(2026, 1, 1, tzinfo=UTC))

    years = [next(runs).astimezone(BERLIN).isoformat() for _ in range(2)]

    assert years == ["2026-03-29T03:30:00+02:00", "2027-03-28T03:30:00+02:00"]
    assert timing.cron_latest(expression, BERLIN, datetime(2027, 1, 1, tzinfo=UTC)) == \
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_the_latest_cron_slot_is_the_one_being_fired_even_a_little_early_or_late():
    slot = datetime(2026, 3, 29, 7, tzinfo=UTC)

    for fired in (slot - timedelta(milliseconds=500), slot, slot + timedelta(seconds=40)):
        assert timing.cron_latest("0 9 * * *", BERLIN, fired) == slot


def test_interval_firings_that_drift_still_name_their_own_slot():
    anchor = datetime(2026, 12, 1, tzinfo=UTC)

    assert timing.interval_nearest(anchor, 60, anchor + timedelta(seconds=121)) == \
        anchor + timedelta(seconds=120)
    assert timing.interval_nearest(anchor, 60, anchor + timedelta(seconds=119)) == \
        anchor + timedelta(seconds=120)


@pytest.mark.parametrize("expression", ["61 * * * *", "* * * *", "0 0 * * * *", "x y z a b",
                                        "0 25 * * *", ""])
def test_a_bad_cron_expression_is_a_400_naming_cron(expression):
    with pytest.raises(InvalidInput) as refused:
        timing.check_cron(expression)
    assert list(refused.value.fields) == ["cron"]


def test_an_unknown_zone_is_a_400_naming_timezone():
    with pytest.raises(InvalidInput) as refused:
        timing.zone_of("Mars/Olympus")
    assert list(refused.value.fields) == ["timezone"]


def test_a_title_template_may_use_the_planned_time_and_nothing_else():
    planned = datetime(2026, 3, 29, 9, tzinfo=BERLIN)
    assert timing.render_title("Report {planned:%Y-%m-%d}", planned) == "Report 2026-03-29"
    for bad in ("{planned.__class__}", "{0}", "{other}", "{planned:%Y"):
        with pytest.raises(InvalidInput):
            timing.check_title(bad)
