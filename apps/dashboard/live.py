"""What a live page is told: the domain events one viewer may see, made small for the browser.

The events arrive in batches on the channel layer's "events" group (apps.ops.subscribers).
Each connection decides in memory, from ids the events carry (`created_by`, `assignee_user`,
added where tasks emit them) and the viewer's role read once when the socket opens: no query
per event. The rule is the API's (`apps.tasks.selectors.tasks_visible_to`): admins and
managers see every task, anyone else what they created or hold; units are shown to whoever
may list them in the API (`apps.execution.api.views`: admins and managers).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from apps.accounts.roles import sees_all_tasks
from apps.execution.models import UnitStatus
from apps.tasks.states import OPEN_STATES, TaskStatus

TASK_LABELS = dict(TaskStatus.choices)
UNIT_LABELS = dict(UnitStatus.choices)
UNIT_STATUSES = frozenset(UnitStatus.values)


@dataclass(frozen=True)
class Viewer:
    user_id: int
    sees_all: bool  # every task, the whole system's counts and the units


def viewer_for(*, user) -> Viewer:
    """A signed-in person's rights, read once per connection (a query or two)."""
    return Viewer(user_id=user.pk, sees_all=sees_all_tasks(user))


def _may_see_task(viewer: Viewer, data: dict[str, Any]) -> bool:
    if viewer.sees_all:
        return True
    return viewer.user_id in (data.get("created_by"), data.get("assignee_user"))


def for_viewer(*, events: Iterable[dict[str, Any]], viewer: Viewer) -> list[dict[str, Any]]:
    """The messages for one viewer from a batch of events, counts summed into one delta."""
    out: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for event in events:
        name, data = event.get("event", ""), event.get("data") or {}
        if name == "task.transitioned":
            if _may_see_task(viewer, data):
                out.append({"kind": "task", "id": data["task_id"], "status": data["to"],
                            "label": TASK_LABELS.get(data["to"], data["to"]),
                            "progress": data.get("progress")})
            counts[data["from"]] -= 1
            counts[data["to"]] += 1
        elif name == "task.progress" and _may_see_task(viewer, data):
            out.append({"kind": "progress", "id": data["task_id"],
                        "progress": data["progress"]})
        elif name == "task.logged" and _may_see_task(viewer, data):
            out.append({"kind": "log", "id": data["task_id"], "lines": data["lines"]})
        elif name == "tasks.created":
            counts.update(data.get("by_status") or {})
        elif viewer.sees_all and name.startswith("unit."):
            status = name.removeprefix("unit.")
            if status in UNIT_STATUSES and data.get("unit"):
                out.append({"kind": "unit", "id": data["unit"], "status": status,
                            "label": UNIT_LABELS[status]})
    # The whole system's counts are shown to those who see every task (the dashboard).
    delta = {status: n for status, n in counts.items() if n}
    if open_change := sum(n for status, n in delta.items() if status in OPEN_STATES):
        delta["open"] = open_change  # the dashboard's "Open" figure, beside each status
    if viewer.sees_all and delta:
        out.append({"kind": "counts", "delta": delta})
    return out
