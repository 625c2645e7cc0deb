"""The approvals' metrics: the wait for a decision (counted after commit, in any process) and
the requests waiting, from the periodic snapshot (apps.core.metrics), never per scrape."""

from __future__ import annotations

from prometheus_client import Histogram

from apps.core.metrics import SnapshotGauge, register_snapshot

# A decision takes minutes to days.
WAIT_BUCKETS = (60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)

WAIT = Histogram("taskmanage_approval_wait_seconds",
                 "From an approval request to its decision", ["kind", "decision"],
                 buckets=WAIT_BUCKETS)


def read_snapshot() -> dict:
    from .selectors import approval_counts

    samples = []
    for key, count in sorted(approval_counts().items()):
        state, kind = key.split("_", 1)
        samples.append(((kind, state), count))
    return {"taskmanage_approvals_waiting": samples}


register_snapshot(read=read_snapshot, gauges=[SnapshotGauge(
    "taskmanage_approvals_waiting",
    "Pending approval requests by kind; state=overdue counts those past due", ("kind", "state"))])
