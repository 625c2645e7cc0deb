"""Celery tasks: thin. Each calls one service."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def escalate_overdue_approvals() -> int:
    return services.approvals_escalate()
