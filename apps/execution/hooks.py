"""The execution app's hooks, registered in AppConfig.ready."""

from __future__ import annotations

from apps.core.events import subscribe
from apps.tasks.holding import HookOrder, on_transition

from . import services, subscribers
from .routing import register_unit_strategies


def register() -> None:
    # first, health_first, busyover join the assignment engine's strategy registry.
    register_unit_strategies()
    # A guard: a hand-over to a unit with no room is refused before anyone writes.
    on_transition(services.unit_held_follow_task, order=HookOrder.GUARD)
    subscribe("task.transitioned")(subscribers.flag_cancelled_work)
    subscribe("tasks.queued")(subscribers.wake_waiting_units)
