"""Everything the workflows app plugs into others: one listener on written transitions."""

from __future__ import annotations

from apps.core.actors import Actor
from apps.tasks import holding
from apps.tasks.models import Task

from . import services


def cancel_downstream(tasks: list[Task], by: Actor) -> None:
    # Cheap first: most transitions end nothing badly, and cost no query here.
    ended = [t for t in tasks if t.status in services.ENDS_BADLY]
    if ended:
        services.workflows_cancel_downstream(ended=ended, by=by)


def register() -> None:
    holding.on_written(cancel_downstream)
