"""Everything the workflows app plugs into others: a listener on written transitions (failure
propagation) and a workflow task's `inputs` in its detail and a unit's claim."""

from __future__ import annotations

from apps.core.actors import Actor
from apps.tasks import holding
from apps.tasks.extensions import TaskDetailField, contribute_task_detail_field
from apps.tasks.models import Task

from . import selectors, services
from .api.serializers import inputs_answer_field


def cancel_downstream(tasks: list[Task], by: Actor) -> None:
    # Cheap first: most transitions end nothing badly, and cost no query here.
    ended = [t for t in tasks if t.status in services.ENDS_BADLY]
    if ended:
        services.workflows_cancel_downstream(ended=ended, by=by)


def register() -> None:
    holding.on_written(cancel_downstream)
    contribute_task_detail_field(TaskDetailField(
        app="workflows", name="inputs", load=selectors.inputs_load, read=selectors.inputs_read,
        schema_field=inputs_answer_field))
