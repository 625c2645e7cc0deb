"""What apps.assignment adds to other apps' objects, through apps.tasks.extensions: the task
admin's bulk reassign."""

from __future__ import annotations


def register() -> None:
    from apps.tasks.extensions import TaskAdminContribution, contribute_to_task_admin

    from .admin import reassign_selected

    contribute_to_task_admin(TaskAdminContribution(
        app="assignment", order=20, actions=(reassign_selected,)))
