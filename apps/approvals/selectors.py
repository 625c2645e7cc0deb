"""Reads about approval requests shared by the API, the admin, commands and stats."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.accounts.roles import is_admin, managed_team_ids

from .models import ApprovalKind, ApprovalRequest, ApprovalStatus
from .policies import in_approvers_group, subject_user

A = ApprovalStatus

# Everything the serializer and the policies read, joined once: no query per row.
RELATED = (
    "task", "decider", "requester__staff", "task__assignee_user__staff",
    "task__created_by__staff",
)


def overdue_q(*, now: datetime | None = None) -> Q:
    return Q(status=A.PENDING, due_at__lte=now or timezone.now())


def approvals_visible_to(*, user) -> QuerySet[ApprovalRequest]:
    """Admins and approvers see every request; a team manager those of their team's people;
    anyone else the requests about what they asked for or work on."""
    qs = ApprovalRequest.objects.select_related(*RELATED)
    if is_admin(user) or in_approvers_group(user):
        return qs
    own = Q(requester=user) | Q(task__created_by=user) | Q(task__assignee_user=user)
    teams = managed_team_ids(user)
    if teams:
        own |= Q(kind=ApprovalKind.CREATION, requester__staff__team_id__in=teams)
        own |= Q(kind=ApprovalKind.CREATION, requester__isnull=True,
                 task__created_by__staff__team_id__in=teams)
        own |= Q(kind=ApprovalKind.COMPLETION, task__assignee_user__staff__team_id__in=teams)
    return qs.filter(own)


def pending_requests(*, overdue: bool = False) -> QuerySet[ApprovalRequest]:
    """The inbox as operators see it: oldest first, the way it should be worked through."""
    qs = ApprovalRequest.objects.filter(status=A.PENDING).select_related("task", "requester")
    if overdue:
        qs = qs.filter(overdue_q())
    return qs.order_by("created_at", "pk")


def approval_counts(*, now: datetime | None = None) -> dict[str, int]:
    """Pending and overdue requests by kind, in one query (for stats and the dashboard)."""
    now = now or timezone.now()
    counts = {f"{state}_{kind}": 0 for state in ("pending", "overdue")
              for kind in ApprovalKind.values}
    rows = (
        ApprovalRequest.objects.filter(status=A.PENDING).order_by().values("kind")
        .annotate(pending=Count("pk"), overdue=Count("pk", filter=Q(due_at__lte=now)))
    )
    for row in rows:
        counts[f"pending_{row['kind']}"] = row["pending"]
        counts[f"overdue_{row['kind']}"] = row["overdue"]
    return counts


def escalation_manager(*, request: ApprovalRequest):
    """The manager of the parent team of the team concerned, if they can be mailed."""
    user = subject_user(request)
    staff = getattr(user, "staff", None) if user is not None else None
    team = staff.team if staff is not None else None
    parent = team.parent if team is not None else None
    boss = parent.manager if parent is not None else None
    if boss is None or not boss.is_active or not boss.email:
        return None
    return boss


def admin_recipient_ids() -> list[int]:
    return list(
        get_user_model().objects.filter(is_superuser=True, is_active=True).exclude(email="")
        .order_by("pk").values_list("pk", flat=True)
    )
