"""The assignment engine's metrics: hand-overs by strategy (counted after commit, in the
process that ran the engine) and the queued tasks nobody could take, from the snapshot."""

from __future__ import annotations

from prometheus_client import Counter

from apps.core.metrics import SnapshotGauge, register_snapshot

ASSIGNMENTS = Counter("taskmanage_assignments_total",
                      "Tasks handed to a person by the engine, by strategy", ["strategy"])


def count_assignments(name: str, payload: dict) -> None:
    for strategy, count in payload["by_strategy"].items():
        ASSIGNMENTS.labels(strategy).inc(count)


def read_snapshot() -> dict:
    from .selectors import unassignable_count

    return {"taskmanage_tasks_unassignable": [((), unassignable_count())]}


register_snapshot(read=read_snapshot, gauges=[SnapshotGauge(
    "taskmanage_tasks_unassignable",
    "Queued tasks the engine found nobody for on its last try")])
