"""Planned times: cron in a named zone across DST changes, interval slots, title templates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from apps.core.exceptions import InvalidInput
from apps.schedules import timing

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_daily_cron_in_berlin_keeps_its_local_hour_across_the_spring_change():
    runs = timing.cron_after("0 9 * * *", BERLIN, datetime(2026, 3, 28, 12, tzinfo=UTC))
    first, second = next(runs), next(runs)

    assert (first.hour, second.hour) == (9, 9)
    # 09:00 is 07:00 UTC in summer time, 08:00 UTC the day before the change.
    assert first.astimezone(UTC) == datetime(2026, 3, 29, 7, tzinfo=UTC)
    assert second - first == timedelta(days=1)


def test_an_hourly_cron_across_the_autumn_change_fires_each_real_hour_once():
    runs = timing.cron_after("0 * * * *", BERLIN, datetime(2026, 10, 24, 22, 30, tzinfo=UTC))
    utc = [next(runs).astimezone(UTC) for _ in range(4)]

    # 01:00 CEST, 02:00 CEST, 02:00 CET (the repeated hour), 03:00 CET.
    assert utc == [datetime(2026, 10, 24, 23, tzinfo=UTC)] + [
        datetime(2026, 10, 25, h, tzinfo=UTC) for h in (0, 1, 2)]


def test_a_time_the_spring_change_skips_runs_once_that_day_at_the_first_hour_after():
    runs = timing.cron_after("30 2 * * *", BERLIN, datetime(2026, 3, 28, 12, tzinfo=UTC))
    on_the_day = next(runs)

    assert on_the_day.date().isoformat() == "2026-03-29"
    assert on_the_day.astimezone(UTC) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert next(runs).date().isoformat() == "2026-03-30"


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
