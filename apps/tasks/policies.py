"""Who may perform which action on a task.

- admins (operators) and members of the `managers` group: everything;
- a team manager: everything on work their team holds, on work nobody holds yet, and on
  what they asked for;
- the holder works the task; the one who asked for it may submit, edit, cancel and retry it.
"""

from __future__ import annotations

from apps.accounts.roles import in_managers_group, is_admin, managed_team_ids

from .models import Task

# What the holder of a task does with it.
ASSIGNEE_ACTIONS = frozenset(
    {"accept", "decline", "start", "pause", "resume", "complete", "fail", "submit", "progress",
     "log"}
)
# What the one who asked for a task may do with it.
CREATOR_ACTIONS = frozenset({"submit", "cancel", "retry", "edit"})
# Actions offered as task transitions over the API.
# (`reassign` and `candidates` are served by apps.assignment, which knows who may take it.)
API_ACTIONS = (
    "cancel", "retry", "accept", "decline", "start", "pause", "resume", "complete", "fail",
    "submit",
)


def manages(user, task: Task) -> bool:
    """Whether `user` manages this task: it is unheld, or its holder is in their team."""
    teams = managed_team_ids(user)
    if not teams:
        return False
    holder = task.assignee_user
    if holder is None:
        return True
    staff = getattr(holder, "staff", None)
    return staff is not None and staff.team_id in teams


# What a machine (an execution unit) does with the work it holds; whether it holds the task
# now is the services' check, under the task's lock (a stale holder gets a 409).
MACHINE_ACTIONS = frozenset({"start", "complete", "fail", "progress", "log"})


def may_act(user, task: Task, action: str) -> bool:
    if getattr(user, "is_machine", False):
        return action in MACHINE_ACTIONS
    if is_admin(user) or in_managers_group(user) or manages(user, task):
        return True
    is_holder = task.assignee_user_id is not None and task.assignee_user_id == user.pk
    if is_holder and action in ASSIGNEE_ACTIONS:
        return True
    return task.created_by_id == user.pk and action in CREATOR_ACTIONS
