"""When a schedule runs: pure functions of the schedule's definition, never of "now" alone.

The planned time of a firing is computed from the schedule (cron in its own zone, interval
slots counted from the schedule's anchor), so two firings meant for one slot compute the same
planned time and collide on the Spawn's unique constraint.
"""

from __future__ import annotations

import string
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


def cron_after(expression: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Cron times strictly after `after`, in the zone (DST-safe: croniter works in it)."""
    it = croniter(expression, after.astimezone(zone), day_or=False)
    while True:
        yield it.get_next(datetime)


def cron_latest(expression: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The last cron time at or before now (with the early tolerance)."""
    start = (now + EARLY_TOLERANCE).astimezone(zone).replace(microsecond=0)
    return croniter(expression, start + timedelta(seconds=1), day_or=False).get_prev(datetime)


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
