"""The fence in PostgreSQL that a replaced beat leader cannot get past.

A leader takes a fencing token (a Redis counter, apps.schedules.leader) each time it acquires
the lease and raises the fence to it here before it dispatches anything. Every spawn a leader's
firing writes first reads the fence, inside the spawn's transaction and under a share lock: a
token lower than the fence is a leader that was replaced while it was paused or cut off, and
its firing spawns nothing. The share lock orders the two: a raise waits for the spawns under
way, and every spawn that starts after it sees the new fence.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .models import LeaderFence

logger = logging.getLogger(__name__)
FENCE_ID = 1


class StaleLeader(Exception):
    """A firing from a leader whose token the fence has passed."""

    def __init__(self, *, token: int, fence: int) -> None:
        super().__init__(f"token {token} is below the fence {fence}")
        self.token = token
        self.fence = fence


def _ensure_row() -> None:
    # Made on first use, not by a migration: a flushed test database or a restored dump
    # without it must not stop the scheduler.
    LeaderFence.objects.bulk_create([LeaderFence(id=FENCE_ID)], ignore_conflicts=True)


def fence_raise(*, token: int, holder: str) -> bool:
    """Record `token` if it is higher than the fence; False if the fence is already at or
    above it (a newer leader exists, or Redis lost its counter)."""
    _ensure_row()
    raised = LeaderFence.objects.filter(pk=FENCE_ID, token__lt=token).update(
        token=token, holder=holder[:200], raised_at=timezone.now())
    return raised == 1


def fence_current() -> int:
    return LeaderFence.objects.filter(pk=FENCE_ID).values_list("token", flat=True).first() or 0


def fence_state() -> LeaderFence | None:
    return LeaderFence.objects.filter(pk=FENCE_ID).first()


def fence_check(*, token: int | None) -> None:
    """Inside a spawn's transaction: refuse a token below the fence (StaleLeader).

    A firing without a token (a trigger, a backfill, a scheduler without a lease) is not
    fenced: the unique planned time still keeps it from spawning twice.
    """
    if token is None:
        return
    share = " FOR SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT token FROM {LeaderFence._meta.db_table} WHERE id = %s{share}",
                       [FENCE_ID])
        row = cursor.fetchone()
    fence = row[0] if row else 0
    if token < fence:
        raise StaleLeader(token=token, fence=fence)


def fence_count_refused(*, refused: StaleLeader, firings: int) -> None:
    """Count firings refused for a stale token (outside the refused transaction: it took
    the row's share lock, and two of them upgrading to write it would deadlock)."""
    with transaction.atomic():
        LeaderFence.objects.filter(pk=FENCE_ID).update(refused=F("refused") + firings)
    logger.warning("schedules: refused %d firing(s) of a replaced beat leader (token %d, "
                   "fence %d)", firings, refused.token, refused.fence)


def fence_mark_dispatched(*, token: int, until: datetime) -> bool:
    """The leader holding `token` has dispatched every firing due up to `until`. False when
    the fence has moved past `token`: this leader has been replaced."""
    return LeaderFence.objects.filter(pk=FENCE_ID, token=token).update(
        dispatched_until=until) == 1
