"""The tasks app's hooks, registered in AppConfig.ready: what follows a committed change."""

from __future__ import annotations

from apps.core.events import subscribe

from . import subscribers


def register() -> None:
    subscribe("tasks.queued")(subscribers.send_dispatch)
    subscribe("task.transitioned")(subscribers.count_transition)
    subscribe("tasks.created")(subscribers.count_created)
