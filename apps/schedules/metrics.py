"""Schedules' metrics.

Counters are counted in the process that spawns (beat's firing runs in a Celery worker; a
trigger or a backfill in the web) and merged across processes (taskmanage/multiproc.py).
The beat leader's gauges are read from the fence row at scrape time (any process):
`taskmanage_schedules_leader_dispatch_age_seconds` is how long ago a leader last said it had
dispatched everything due; it stays near a second while some beat leads, and an alert on it
(say, above 10 s) catches "no beat is leading" (all beats down, Redis down).
"""

from __future__ import annotations

import logging

from django.utils import timezone
from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from apps.core.metrics import register_database_collector

logger = logging.getLogger(__name__)

SPAWNS = Counter("taskmanage_schedule_spawns_total",
                 "Tasks spawned by schedules, by origin (beat, trigger, backfill)", ["origin"])
MISFIRES = Counter(
    "taskmanage_schedule_misfires_total",
    "Beat firings later than SCHEDULES_MISFIRE_GRACE_SECONDS after their planned time, by the "
    "schedule's misfire policy (skip: dropped; run_once: run late)", ["policy"])
# Counted by the beat process that takes the leader lease (apps.schedules.leader).
BEAT_LEADER_CHANGES = Counter("taskmanage_beat_leader_changes_total",
                              "Times a beat process took the leader lease")


class LeaderCollector:
    def describe(self):
        # Declared without samples, so registering never touches the database.
        yield from self._families()

    @staticmethod
    def _families():
        return (
            GaugeMetricFamily("taskmanage_schedules_leader_token",
                              "Fencing token of the latest beat leader"),
            GaugeMetricFamily("taskmanage_schedules_leader_dispatch_age_seconds",
                              "Seconds since the beat leader last recorded its dispatch"),
            CounterMetricFamily("taskmanage_schedules_fence_refused",
                                "Firings of replaced beat leaders refused by the fence"),
        )

    def collect(self):
        from .fencing import fence_state

        try:
            state = fence_state()
        except Exception:  # a scrape must answer even when the database does not
            logger.warning("beat leader state unavailable", exc_info=True)
            return
        if state is None:
            return
        token, age, refused = self._families()
        token.add_metric([], state.token)
        if state.dispatched_until is not None:
            age.add_metric([], (timezone.now() - state.dispatched_until).total_seconds())
        refused.add_metric([], state.refused)
        yield from (token, age, refused)


register_database_collector(LeaderCollector())
