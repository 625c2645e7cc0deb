"""Celery tasks: thin. Load by id, call a service."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def dispatch_tasks(task_ids: list[str]) -> int:
    return services.tasks_dispatch(task_ids=task_ids)


@shared_task(ignore_result=True)
def promote_due_tasks() -> int:
    return services.tasks_promote_due()


@shared_task(ignore_result=True)
def release_unblocked_tasks() -> int:
    return services.tasks_release_unblocked()


@shared_task(ignore_result=True)
def redrive_queued_tasks() -> int:
    return services.tasks_redrive_queued()
