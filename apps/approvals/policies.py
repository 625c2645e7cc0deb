"""Who may decide an approval request, and who may withdraw it.

- Deciders: members of the `approvers` group, the manager of the team of the person the
  request is about (creation: the requester; completion: the assignee who did the work), and
  admins.
- Nobody decides a request they made, nor the creation of a task they asked for, nor the
  completion of work they did: admins included.
- The requester may withdraw their own request.
"""

from __future__ import annotations

from apps.accounts.roles import is_admin, managed_team_ids

from .models import ApprovalKind, ApprovalRequest

APPROVERS_GROUP = "approvers"
DECIDE_ACTIONS = ("approve", "reject")


def in_approvers_group(user) -> bool:
    """Cached on the user object for the request, like the roles in apps.accounts.roles."""
    if not (user and user.is_authenticated):
        return False
    cached = getattr(user, "_tm_approvers_group", None)
    if cached is None:
        cached = user.groups.filter(name=APPROVERS_GROUP).exists()
        user._tm_approvers_group = cached
    return cached


def subject_user(request: ApprovalRequest):
    """The person the request is about: whose team's manager decides it."""
    if request.kind == ApprovalKind.COMPLETION:
        return request.task.assignee_user or request.requester
    return request.requester or request.task.created_by


def subject_team_id(request: ApprovalRequest) -> int | None:
    user = subject_user(request)
    staff = getattr(user, "staff", None) if user is not None else None
    return staff.team_id if staff is not None else None


def is_own(user, request: ApprovalRequest) -> bool:
    """Whether the request is about the user's own ask or the user's own work."""
    if request.requester_id == user.pk:
        return True
    task = request.task
    if request.kind == ApprovalKind.COMPLETION:
        return task.assignee_user_id == user.pk
    return task.created_by_id == user.pk


def may_decide(user, request: ApprovalRequest) -> bool:
    if not (user and user.is_authenticated) or is_own(user, request):
        return False
    if is_admin(user) or in_approvers_group(user):
        return True
    team_id = subject_team_id(request)
    return team_id is not None and team_id in managed_team_ids(user)


def may_withdraw(user, request: ApprovalRequest) -> bool:
    """The requester takes their own question back; `None` is the system (expiry)."""
    return user is None or (request.requester_id is not None and request.requester_id == user.pk)


def allowed_actions(user, request: ApprovalRequest) -> list[str]:
    if not request.is_pending:
        return []
    actions = list(DECIDE_ACTIONS) if may_decide(user, request) else []
    if user is not None and may_withdraw(user, request):
        actions.append("withdraw")
    return sorted(actions)
