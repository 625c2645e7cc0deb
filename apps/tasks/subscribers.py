"""What happens after a task change commits: Celery dispatch and metrics (registered in
apps.tasks.hooks)."""

from __future__ import annotations

from prometheus_client import Counter

from apps.core.outbox import send_task

from .dispatch import dispatcher_for

TRANSITIONS = Counter(
    "taskmanage_task_transitions_total", "Task transitions performed",
    ["transition", "to_status"],
)
CREATED = Counter("taskmanage_tasks_created_total", "Tasks created", ["task_type"])


def send_dispatch(name: str, payload: dict) -> None:
    # Sent after commit so the worker finds the rows, and from the outbox thread so a slow or
    # hung Redis never holds the request. If Redis is down the message is lost; the redrive
    # sweep announces queued work again, so the task only waits longer.
    from .tasks import dispatch_tasks

    # Queued work of kinds nobody dispatches (execution units claim theirs) needs no
    # message: the worker would find no dispatcher for it. Every process registers the same
    # dispatchers (in AppConfig.ready). A payload without kinds (the redrive) is sent.
    kinds = payload.get("kinds")
    if kinds is not None and not any(dispatcher_for(kind) for kind in kinds):
        return
    send_task(dispatch_tasks, payload["task_ids"])


def count_transition(name: str, payload: dict) -> None:
    TRANSITIONS.labels(payload["transition"], payload["to"]).inc()


def count_created(name: str, payload: dict) -> None:
    for key, count in payload["by_type"].items():
        CREATED.labels(key).inc(count)
