"""After commit: a unit whose task was cancelled hears of it at its next heartbeat.

Sent from an outbox thread (apps.core.outbox), so a slow or hung Redis never holds the request
that cancelled the task. A flag lost with Redis costs little: the unit's next report on the
task is refused (409), and it stops there.
"""

from __future__ import annotations

from apps.core.outbox import Outbox

from . import services, wake

BATCH = 200


def _send(batch: list[tuple[int, str]]) -> None:
    by_unit: dict[int, list[str]] = {}
    for unit_pk, task_id in batch:
        by_unit.setdefault(unit_pk, []).append(task_id)
    for unit_pk, task_ids in by_unit.items():
        services.flag_cancelled(unit_pk=unit_pk, task_ids=task_ids)


cancel_flags = Outbox("unit-cancel-flags", _send, batch=BATCH)


def flag_cancelled_work(name: str, payload: dict) -> None:
    if payload.get("to") == "cancelled" and payload.get("unit_pk") is not None:
        cancel_flags.put((payload["unit_pk"], payload["task_id"]))


def _wake(batch: list[str]) -> None:
    wake.publish(sorted(set(batch)))


wake_ups = Outbox("unit-wake-ups", _wake, batch=BATCH)


def wake_waiting_units(name: str, payload: dict) -> None:
    """Queued work of a unit type: claims waiting for that type claim again at once."""
    if "unit" in payload.get("kinds", ()):
        for key in payload.get("types", ()):
            wake_ups.put(key)


def wake_routed_units(name: str, payload: dict) -> None:
    """Work routed to chosen units: those waiting on its type claim again, and start it."""
    for key in payload.get("types", ()):
        wake_ups.put(key)


def wake_on_resume(name: str, payload: dict) -> None:
    """A queue resumed: its waiting work is claimable again, as if just queued."""
    if payload.get("resumed"):
        wake_ups.put(payload["task_type"])
