"""Event subscribers (apps.core.events): they run after the transaction that ended a task
committed, so a delivery is only ever opened for a state that is really there."""

from __future__ import annotations

from typing import Any

from apps.tasks.states import TERMINAL_STATES

from . import services


def open_delivery(name: str, payload: dict[str, Any]) -> None:
    if payload.get("to") in TERMINAL_STATES:
        services.delivery_open(task_id=payload["task_id"])
