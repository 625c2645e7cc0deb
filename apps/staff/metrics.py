"""Staff load against capacity per team, from the periodic snapshot (apps.core.metrics): the
figures the assignment engine balances, without a query per scrape."""

from __future__ import annotations

from apps.core.metrics import SnapshotGauge, register_snapshot

NO_TEAM = "(none)"


def read_snapshot() -> dict:
    from .selectors import load_by_team_and_availability

    rows = load_by_team_and_availability()
    out: dict[str, list] = {"taskmanage_staff_members": [], "taskmanage_staff_load": [],
                            "taskmanage_staff_capacity": []}
    for row in rows:
        labels = (row["team__name"] or NO_TEAM, row["availability"])
        out["taskmanage_staff_members"].append((labels, row["members"]))
        out["taskmanage_staff_load"].append((labels, row["load"] or 0))
        out["taskmanage_staff_capacity"].append((labels, row["capacity"] or 0))
    return out


LABELS = ("team", "availability")
register_snapshot(read=read_snapshot, gauges=[
    SnapshotGauge("taskmanage_staff_members", "Staff members by team and availability", LABELS),
    SnapshotGauge("taskmanage_staff_load",
                  "Weight of the open work staff hold, by team and availability", LABELS),
    SnapshotGauge("taskmanage_staff_capacity", "Capacity of staff, by team and availability",
                  LABELS),
])
