"""Celery tasks: thin."""

from __future__ import annotations

from celery import shared_task

from . import selectors


@shared_task(ignore_result=True)
def refresh_ended_counts() -> None:
    # Counting the ended tasks reads most of the table: done here, every
    # STATS_SNAPSHOT_SECONDS, so no request ever pays for it.
    selectors.refresh_ended_counts()
    # The same counts, kept as this hour's point of the dashboard's status-over-time chart.
    selectors.record_status_sample(counts=selectors.status_counts())
