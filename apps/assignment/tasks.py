"""Celery tasks: thin. Each calls one service."""

from __future__ import annotations

from celery import shared_task

from apps.staff.services import staff_reconcile_load

from . import services


@shared_task(ignore_result=True)
def assign_queued_tasks() -> int:
    return services.assign_queued().assigned


@shared_task(ignore_result=True)
def expire_assignments() -> int:
    return services.assignments_expire()


@shared_task(ignore_result=True)
def start_leaves() -> int:
    return services.leaves_start()


@shared_task(ignore_result=True)
def requeue_timed_out_tasks() -> int:
    return services.tasks_requeue_timed_out()


@shared_task(ignore_result=True)
def reconcile_staff_load() -> int:
    return staff_reconcile_load()
