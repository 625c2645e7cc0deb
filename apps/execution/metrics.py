"""The execution units' metrics: heartbeats and leases taken back (counted where they happen,
in any process: the web's heartbeat fast path, the units sweep in a Celery worker), and the
units by type and status with their load, from the periodic snapshot (apps.core.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

from apps.core.metrics import SnapshotGauge, register_snapshot

HEARTBEATS = Counter("taskmanage_unit_heartbeats_total", "Heartbeats received from units",
                     ["unit_type"])
LEASES_EXPIRED = Counter(
    "taskmanage_leases_expired_total",
    "Tasks taken back from a unit whose lease ran out (no heartbeat or progress in time)",
    ["task_type"])
TAKEN_BACK = Counter("taskmanage_unit_tasks_taken_back_total",
                     "Tasks sent back to the queue from a unit, by why", ["cause"])


def count_taken_back(name: str, payload: dict) -> None:
    from .services import LEASE_EXPIRED, TAKEN_BACK_CAUSES

    cause = payload.get("cause")
    if cause not in TAKEN_BACK_CAUSES:
        return
    TAKEN_BACK.labels(cause).inc()
    if cause == LEASE_EXPIRED:
        LEASES_EXPIRED.labels(payload["task_type"]).inc()


def read_snapshot() -> dict:
    from .selectors import units_by_type_and_status

    out: dict[str, list] = {"taskmanage_units": [], "taskmanage_unit_held": [],
                            "taskmanage_unit_capacity": [], "taskmanage_unit_reported_load": []}
    for row in units_by_type_and_status():
        labels = (row["unit_type"], row["status"])
        out["taskmanage_units"].append((labels, row["units"]))
        out["taskmanage_unit_held"].append((labels, row["held"] or 0))
        out["taskmanage_unit_capacity"].append((labels, row["capacity"] or 0))
        out["taskmanage_unit_reported_load"].append((labels, row["reported"] or 0))
    return out


LABELS = ("unit_type", "status")
register_snapshot(read=read_snapshot, gauges=[
    SnapshotGauge("taskmanage_units", "Execution units by type and status", LABELS),
    SnapshotGauge("taskmanage_unit_held", "Tasks held by units, by type and status", LABELS),
    SnapshotGauge("taskmanage_unit_capacity", "Capacity of units, by type and status", LABELS),
    SnapshotGauge("taskmanage_unit_reported_load",
                  "Load the units last reported in their heartbeats, by type and status", LABELS),
])
