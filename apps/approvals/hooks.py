"""The approvals app's hooks, registered in AppConfig.ready.

In the task's transaction (apps.tasks.holding): open a request when a task starts waiting for a
decision, close it when it stops waiting. After commit (apps.core.events): the mails. On the
task's admin page (apps.tasks.extensions): its approval requests.
"""

from __future__ import annotations

from apps.core.events import subscribe
from apps.tasks.extensions import TaskAdminContribution, contribute_to_task_admin
from apps.tasks.holding import HookOrder, on_created, on_transition

from . import services, subscribers
from .admin import ApprovalRequestInline


def register() -> None:
    on_created(services.requests_open_for_created)
    on_transition(services.requests_follow_task, order=HookOrder.RECORD)
    subscribe("approval.decided")(subscribers.mail_requester)
    subscribe("approval.decided")(subscribers.count_decision)
    subscribe("approval.escalated")(subscribers.mail_escalation)
    contribute_to_task_admin(TaskAdminContribution(
        app="approvals", order=30, inlines=(ApprovalRequestInline,)))
