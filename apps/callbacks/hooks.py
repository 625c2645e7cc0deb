"""The callbacks app's hooks, registered in AppConfig.ready.

On a task's create (apps.tasks.extensions): the `callback_url` field, kept here. In the
transaction that ends tasks (apps.tasks.holding.on_written): which of them have a callback,
whose deliveries are opened after it commits. On the task's admin page: its deliveries.
"""

from __future__ import annotations

from apps.tasks.extensions import (
    TaskAdminContribution,
    TaskCreateField,
    contribute_task_create_field,
    contribute_to_task_admin,
)
from apps.tasks.holding import on_written

from . import services
from .admin import CallbackDeliveryInline
from .api.serializers import CallbackUrlField, callback_url_of


def register() -> None:
    contribute_task_create_field(TaskCreateField(
        app="callbacks", name="callback_url", field=CallbackUrlField.for_create,
        write=services.callback_url_write, read=callback_url_of,
        schema_field=CallbackUrlField.for_answer,
        joins=("callback",),
    ))
    on_written(services.deliveries_open)
    contribute_to_task_admin(TaskAdminContribution(
        app="callbacks", order=40, inlines=(CallbackDeliveryInline,)))
