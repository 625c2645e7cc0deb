"""The execution app's hooks, registered in AppConfig.ready."""

from __future__ import annotations

from typing import Any

from apps.core.events import subscribe
from apps.tasks.extensions import TaskTypeContribution, contribute_to_task_type
from apps.tasks.holding import HookOrder, on_transition, on_written

from . import metrics, services, sharding, subscribers
from .admin import UnitQueueInline
from .api.serializers import UnitQueueFields
from .routing import register_unit_strategies
from .selectors import unit_queue_of


def register() -> None:
    # first, health_first, busyover, pull and sharding_broadcast join the assignment
    # engine's strategy registry; pull is a unit type's default.
    register_unit_strategies()
    # A guard: a hand-over to a unit with no room is refused before anyone writes.
    on_transition(services.unit_held_follow_task, order=HookOrder.GUARD)
    # A sharded parent follows its shards, reading them as they are now written.
    on_written(sharding.shards_follow)
    subscribe("task.transitioned")(subscribers.flag_cancelled_work)
    subscribe("task.transitioned")(metrics.count_taken_back)
    subscribe("tasks.queued")(subscribers.wake_waiting_units)
    subscribe("tasks.routed")(subscribers.wake_routed_units)
    subscribe("unit_queue.changed")(subscribers.wake_on_resume)
    contribute_to_task_type(TaskTypeContribution(
        app="execution", order=30, fields=lambda: UnitQueueFields().get_fields(),
        read=_queue, write=_write_queue, after={"max_running": "queue",
                                                "queue_paused": "max_running",
                                                "unit_types": "queue_paused"},
        prefetch=("unit_queue",), admin_inlines=(UnitQueueInline,),
    ))


class _QueueView:
    """What the task type API shows of its queue, under the API's names."""

    def __init__(self, queue) -> None:
        self.max_running, self.queue_paused = queue.max_running, queue.paused
        self.unit_types = list(queue.unit_types)


def _queue(task_type) -> _QueueView:
    return _QueueView(unit_queue_of(task_type=task_type))


def _write_queue(*, task_type, values: dict[str, Any], created: bool, by) -> None:
    if not values:
        return  # nothing asked: a type without a row runs unpaused and unlimited
    changes = {"max_running": values["max_running"]} if "max_running" in values else {}
    if "queue_paused" in values:
        changes["paused"] = values["queue_paused"]
    if "unit_types" in values:
        changes["unit_types"] = values["unit_types"]
    services.unit_queue_set(task_type=task_type, by=by, **changes)
