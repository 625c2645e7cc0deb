"""The callbacks app's hooks, registered in AppConfig.ready.

On a task's create (apps.tasks.extensions): the `callback_url` field, kept here. After commit
(apps.core.events): a delivery for a task that reached a terminal state. On the task's admin
page: its deliveries.
"""

from __future__ import annotations

from apps.core.events import subscribe
from apps.tasks.extensions import (
    TaskAdminContribution,
    TaskCreateField,
    contribute_task_create_field,
    contribute_to_task_admin,
)

from . import services, subscribers
from .admin import CallbackDeliveryInline
from .api.serializers import CallbackUrlField, callback_url_of


def register() -> None:
    contribute_task_create_field(TaskCreateField(
        app="callbacks", name="callback_url", field=CallbackUrlField.for_create,
        write=services.callback_url_write, read=callback_url_of,
        schema_field=CallbackUrlField.for_answer,
        joins=("callback",),
    ))
    subscribe("task.transitioned")(subscribers.open_delivery)
    contribute_to_task_admin(TaskAdminContribution(
        app="callbacks", order=40, inlines=(CallbackDeliveryInline,)))
