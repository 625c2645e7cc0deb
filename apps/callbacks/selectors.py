"""Reads of callbacks shared by the API and the admin."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.tasks.models import Task

from .models import CallbackDelivery

LIST_LIMIT = 100


def deliveries_of(*, task: Task) -> QuerySet[CallbackDelivery]:
    """A task's deliveries, newest first, with their attempts."""
    return (CallbackDelivery.objects.filter(task=task).prefetch_related("attempt_rows")
            .order_by("-created_at", "-pk"))
