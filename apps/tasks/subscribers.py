"""What happens after a task change commits: Celery dispatch and metrics (registered in
apps.tasks.hooks)."""

from __future__ import annotations

from apps.core.outbox import send_task

from . import metrics
from .dispatch import dispatcher_for
from .states import TaskStatus, Transition


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
    to, task_type = payload["to"], payload["task_type"]
    metrics.TRANSITIONS.labels(payload["transition"], to).inc()
    priority = metrics.priority_name(payload.get("priority", 1))
    if to == TaskStatus.COMPLETED:
        metrics.COMPLETED.labels(task_type, priority).inc()
    elif to == TaskStatus.FAILED:
        metrics.FAILED.labels(task_type, priority).inc()
    elif to == TaskStatus.SCHEDULED and payload["transition"] == Transition.FAIL:
        metrics.RETRIES.labels(task_type).inc()
    if "waited" in payload:
        metrics.WAIT.labels(task_type).observe(payload["waited"])
    if "ran" in payload:
        metrics.RUN.labels(task_type).observe(payload["ran"])


def count_created(name: str, payload: dict) -> None:
    for task_type, priority, count in payload["by_type_priority"]:
        metrics.CREATED.labels(task_type, metrics.priority_name(priority)).inc(count)
