"""Schedules' metrics.

Counters are counted in the process that spawns (beat's firing runs in a Celery worker; a
trigger or a backfill in the web) and merged across processes (taskmanage/multiproc.py).
The beat leader's gauges come from the fence row in the periodic snapshot (apps.core.metrics):
`time() - taskmanage_schedules_leader_dispatched_at_seconds` is how long ago a leader last said
it had dispatched everything due; it stays within a snapshot interval while some beat leads,
and an alert on it catches "no beat is leading" (all beats down, Redis down).
"""

from __future__ import annotations

from prometheus_client import Counter

from apps.core.metrics import SnapshotGauge, register_snapshot

SPAWNS = Counter("taskmanage_schedule_spawns_total",
                 "Tasks spawned by schedules, by origin (beat, trigger, backfill)", ["origin"])
MISFIRES = Counter(
    "taskmanage_schedule_misfires_total",
    "Beat firings later than SCHEDULES_MISFIRE_GRACE_SECONDS after their planned time, by the "
    "schedule's misfire policy (skip: dropped; run_once: run late)", ["policy"])
# Counted by the beat process that takes the leader lease (apps.schedules.leader).
BEAT_LEADER_CHANGES = Counter("taskmanage_beat_leader_changes_total",
                              "Times a beat process took the leader lease")


def read_snapshot() -> dict:
    """The beat leader's state, from the fence row, in the periodic snapshot (a scrape reads
    no table). The time of its last dispatch is kept as a timestamp, not an age: a snapshot
    that stopped (no beat at all) still shows how long ago a leader last dispatched."""
    from .fencing import fence_state

    state = fence_state()
    if state is None:
        return {}  # no leader ever: nothing to say
    figures = {"taskmanage_schedules_leader_token": [((), state.token)],
               "taskmanage_schedules_fence_refused_total": [((), state.refused)]}
    if state.dispatched_until is not None:
        figures["taskmanage_schedules_leader_dispatched_at_seconds"] = [
            ((), state.dispatched_until.timestamp())]
    return figures


register_snapshot(read=read_snapshot, gauges=[
    SnapshotGauge("taskmanage_schedules_leader_token", "Fencing token of the latest beat leader"),
    SnapshotGauge("taskmanage_schedules_fence_refused_total",
                  "Firings of replaced beat leaders refused by the fence"),
    SnapshotGauge("taskmanage_schedules_leader_dispatched_at_seconds",
                  "Unix time up to which the beat leader last recorded its dispatch "
                  "(time() minus it: how long no beat has dispatched)"),
])
