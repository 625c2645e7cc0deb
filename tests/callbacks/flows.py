"""Helpers of the callback tests: a task with a callback, ended through the services."""

from __future__ import annotations

from apps.callbacks.models import CallbackDelivery
from apps.core.actors import Actor
from apps.tasks import services as task_services
from tests.builders import create_task


def task_with_callback(*, by, url: str, **spec):
    return create_task(by=by, extras={"callback_url": url}, **spec)


def cancel(task, *, by):
    return task_services.task_transition(task_id=task.pk, action="cancel",
                                         by=Actor.for_user(by), reason="not needed")


def delivery_of(task) -> CallbackDelivery:
    return CallbackDelivery.objects.get(task=task)


def make_due(delivery: CallbackDelivery) -> None:
    """Time passes: the backoff is over."""
    from django.utils import timezone

    CallbackDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
