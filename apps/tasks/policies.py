"""Who may perform which action on a task (until apps.staff brings teams and roles)."""

from __future__ import annotations

from apps.accounts.roles import sees_all_tasks

from .models import Task

# What the holder of a task does with it.
ASSIGNEE_ACTIONS = frozenset(
    {"accept", "decline", "start", "pause", "resume", "complete", "fail", "submit", "progress",
     "log"}
)
# What the one who asked for a task may do with it.
CREATOR_ACTIONS = frozenset({"submit", "cancel", "retry", "edit"})
# Actions offered over the task API (approvals and the system's own steps are not).
API_ACTIONS = (
    "cancel", "retry", "accept", "decline", "start", "pause", "resume", "complete", "fail",
    "submit", "reassign",
)


def may_act(user, task: Task, action: str) -> bool:
    if sees_all_tasks(user):
        return True
    is_holder = task.assignee_user_id is not None and task.assignee_user_id == user.pk
    if is_holder and action in ASSIGNEE_ACTIONS:
        return True
    return task.created_by_id == user.pk and action in CREATOR_ACTIONS
