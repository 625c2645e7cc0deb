"""When a schedule runs: pure functions of the schedule's definition, never of "now" alone.

The planned time of a firing is computed from the schedule (cron in its own zone, interval
slots counted from the schedule's anchor), so two firings meant for one slot compute the same
planned time and collide on the Spawn's unique constraint.
"""

from __future__ import annotations

import string
from bisect import insort
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.schedules import crontab
from croniter import croniter

from apps.core.exceptions import InvalidInput

# Beat and the worker firing a cron slot may read clocks a little apart: a firing this early
# still means the coming slot.
EARLY_TOLERANCE = timedelta(seconds=1)


def zone_of(name: str) -> ZoneInfo:
    """The named IANA zone, or a 400 naming `timezone`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise InvalidInput.on("timezone", f"Unknown time zone {name!r}.") from None


def check_cron(expression: str) -> list[str]:
    """The five fields of a cron expression that both croniter and beat accept, or a 400."""
    fields = expression.split()
    if len(fields) != 5 or not croniter.is_valid(expression):
        raise InvalidInput.on(
            "cron", f"{expression!r} is not a cron expression of five fields "
                    "(minute hour day-of-month month day-of-week).")
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        crontab(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month,
                day_of_week=day_of_week)
    except (ValueError, KeyError, IndexError, TypeError):
        raise InvalidInput.on("cron", f"{expression!r} is not understood by the scheduler.") \
            from None
    return fields


class _TitleFormatter(string.Formatter):
    """Only `{planned}` with a format spec: no attribute or index lookups into objects."""

    def get_field(self, field_name, args, kwargs):
        if field_name != "planned":
            raise KeyError(field_name)
        return kwargs["planned"], field_name


def render_title(template: str, planned: datetime) -> str:
    return _TitleFormatter().format(template, planned=planned)[:300]


def check_title(template: str) -> None:
    try:
        render_title(template, datetime(2026, 1, 31, 23, 59, tzinfo=UTC))
    except (KeyError, ValueError, IndexError, TypeError, AttributeError):
        raise InvalidInput.on(
            "title", "The title may use {planned} (e.g. {planned:%Y-%m-%d}) and nothing "
                     "else in braces; write {{ and }} for braces themselves.") from None


# Cron times are wall-clock times in the schedule's zone, and beat (django-celery-beat's
# TzAwareCrontab) turns each into one instant with the zone's first reading (fold=0):
# - a time the autumn change repeats (01:30 on the fall-back night) is the first of the two,
#   when the clock first shows it; beat fires once, as classic cron does, and a daily job
#   runs once a day. Each wall time is one run: an hourly cron runs 02:00 once, not twice.
# - a time the spring change skips (02:30 when 02:00 becomes 03:00) keeps the offset before
#   the change, so it is the instant an hour after (03:30 summer time): it still runs that day,
#   an hour of clock later, and never twice.
# The next runs, a backfill and the slot a firing names follow the same rule, so what the API
# lists and backfills is what beat fires, and a firing finds its slot within the tolerance.
# Offsets move by at most this much at one change (2 h: historic double summer time).
LARGEST_SHIFT = timedelta(hours=3)


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a wall-clock time stands for, as beat reads it (see above), in UTC: an
    aware time in the repeated hour never equals one in another zone (PEP 495), so instants
    are compared and kept in UTC."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _exists(wall: datetime, instant: datetime, zone: ZoneInfo) -> bool:
    """False for a wall time the spring change skips (it reads back as another)."""
    return instant.astimezone(zone).replace(tzinfo=None) == wall


def _offsets_near(zone: ZoneInfo, moment: datetime) -> list[timedelta]:
    return [(moment + step).astimezone(zone).utcoffset()
            for step in (-LARGEST_SHIFT, timedelta(0), LARGEST_SHIFT)]


def _no_change_before(instant: datetime, zone: ZoneInfo) -> bool:
    return (instant - LARGEST_SHIFT).astimezone(zone).utcoffset() == \
        instant.astimezone(zone).utcoffset()


def cron_after(expression: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Cron times strictly after `after` (UTC), each wall time of the zone once, as beat."""
    # A skipped wall time maps to a later instant than the walls right after the gap: start
    # early enough (under the smallest offset around) to see it, and hold each instant back
    # until a wall time that exists has passed it (from there on instants only grow), or
    # one that does not has passed it by more than a gap (a cron naming only skipped times).
    start = (after.astimezone(UTC) + min(_offsets_near(zone, after))).replace(tzinfo=None)
    walls = croniter(expression, start - timedelta(seconds=1), day_or=False)
    pending: list[datetime] = []
    last = after
    while True:
        wall = walls.get_next(datetime)
        instant = _instant(wall, zone)
        insort(pending, instant)
        settled = instant if _exists(wall, instant, zone) else instant - LARGEST_SHIFT
        while pending and pending[0] <= settled:
            found = pending.pop(0)
            if found > last:
                last = found
                yield found


def cron_latest(expression: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The last cron time at or before now (with the early tolerance), as beat fires it
    (UTC)."""
    limit = (now + EARLY_TOLERANCE).replace(microsecond=0)
    top = (limit.astimezone(UTC) + max(_offsets_near(zone, limit))).replace(tzinfo=None)
    walls = croniter(expression, top + timedelta(seconds=1), day_or=False)
    best: datetime | None = None
    while True:
        wall = walls.get_prev(datetime)
        instant = _instant(wall, zone)
        if instant <= limit and (best is None or instant > best):
            best = instant
        # Below an existing wall time with no change in the hours before it, or more than a
        # gap below the best, no earlier wall time can map later: the latest is found.
        if best is not None and (instant < best - LARGEST_SHIFT or (
                instant <= limit and _exists(wall, instant, zone)
                and _no_change_before(instant, zone))):
            return best


def interval_nearest(anchor: datetime, seconds: int, now: datetime) -> datetime | None:
    """The interval slot nearest now. Beat's fixed-rate firings drift a little from the
    anchor; the nearest slot is the one a firing means, so two firings of one slot agree."""
    if now + timedelta(seconds=seconds / 2) < anchor:
        return None
    k = round((now - anchor).total_seconds() / seconds)
    return anchor + timedelta(seconds=max(k, 0) * seconds)


def interval_after(anchor: datetime, seconds: int, after: datetime) -> Iterator[datetime]:
    k = max(int((after - anchor).total_seconds() // seconds) + 1, 0)
    while True:
        yield anchor + timedelta(seconds=k * seconds)
        k += 1
