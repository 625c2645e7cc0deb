"""The approvals app's hooks, registered in AppConfig.ready.

In the task's transaction (apps.tasks.holding): open a request when a task starts waiting for a
decision, close it when it stops waiting. After commit (apps.core.events): the mails.
"""

from __future__ import annotations

from apps.core.events import subscribe
from apps.tasks.holding import HookOrder, on_created, on_transition

from . import services, subscribers


def register() -> None:
    on_created(services.requests_open_for_created)
    on_transition(services.requests_follow_task, order=HookOrder.RECORD)
    subscribe("approval.decided")(subscribers.mail_requester)
    subscribe("approval.escalated")(subscribers.mail_escalation)
