"""The tasks app's hooks, registered in AppConfig.ready: what follows a committed change."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from apps.core.events import subscribe

from . import selectors, subscribers
from .models import TaskType


def register() -> None:
    subscribe("tasks.queued")(subscribers.send_dispatch)
    subscribe("task.transitioned")(subscribers.count_transition)
    subscribe("tasks.created")(subscribers.count_created)
    # The per-process cache of active task types forgets a type this process changed.
    for signal in (post_save, post_delete):
        signal.connect(selectors.task_types_changed, sender=TaskType,
                       dispatch_uid=f"tasks.task_types_changed.{signal is post_save}")
