"""The alerts app's hooks, registered in AppConfig.ready: the domain events that raise
alerts. Subscribers run after the domain's transaction committed (apps.core.events)."""

from __future__ import annotations

from apps.core.events import subscribe
from apps.tasks.states import TaskStatus

from . import services


def on_task_transitioned(name: str, payload: dict) -> None:
    if payload.get("to") == TaskStatus.FAILED:
        services.alerts_on_task_failed(task_id=payload["task_id"],
                                       task_type_key=payload["task_type"])


def on_unit_offline(name: str, payload: dict) -> None:
    services.alerts_on_unit_offline(unit_id=payload["unit"], reason=payload.get("reason", ""))


def register() -> None:
    subscribe("task.transitioned")(on_task_transitioned)
    subscribe("unit.offline")(on_unit_offline)
