"""What apps.approvals adds to other apps' pages: a task's approval requests, in its admin."""

from __future__ import annotations


def register() -> None:
    from apps.tasks.extensions import TaskAdminContribution, contribute_to_task_admin

    from .admin import ApprovalRequestInline

    contribute_to_task_admin(TaskAdminContribution(
        app="approvals", order=30, inlines=(ApprovalRequestInline,)))
