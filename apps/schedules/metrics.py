"""Schedules' metrics, counted in the process that spawns (beat's firing runs in a Celery
worker; a trigger or a backfill in the web): merged across processes (taskmanage/multiproc.py).
"""

from __future__ import annotations

from prometheus_client import Counter

SPAWNS = Counter("taskmanage_schedule_spawns_total",
                 "Tasks spawned by schedules, by origin (beat, trigger, backfill)", ["origin"])
MISFIRES = Counter(
    "taskmanage_schedule_misfires_total",
    "Beat firings later than SCHEDULES_MISFIRE_GRACE_SECONDS after their planned time, by the "
    "schedule's misfire policy (skip: dropped; run_once: run late)", ["policy"])
# Incremented by the beat leader lease when another beat process takes the lead (a hook for
# apps.schedules' leader election: `BEAT_LEADER_CHANGES.inc()` where the lease changes hands).
BEAT_LEADER_CHANGES = Counter("taskmanage_beat_leader_changes_total",
                              "Times a beat process took the leader lease from another")
