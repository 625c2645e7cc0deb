"""Mail about approvals, and their metrics, after commit (registered in apps.approvals.hooks).

The requester hears about the decision; the manager's manager (or the admins) about an overdue
request. A mail that fails is logged by the event bus and never undoes anything.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

from . import metrics
from .models import ApprovalRequest, ApprovalStatus

_VERDICT = {
    ApprovalStatus.APPROVED: "approved",
    ApprovalStatus.REJECTED: "rejected",
    ApprovalStatus.WITHDRAWN: "withdrawn",
}


def mail_requester(name: str, payload: dict) -> None:
    requester_id = payload.get("requester_id")
    if requester_id is None or requester_id == payload.get("decider_id"):
        return  # asked by the system, or the requester withdrew it: nobody to tell
    request = (
        ApprovalRequest.objects.select_related("task", "requester", "decider")
        .filter(pk=payload["request_id"]).first()
    )
    if request is None or request.requester is None or not request.requester.email:
        return
    verdict = _VERDICT.get(request.status, request.status)
    by = request.decider.get_username() if request.decider else "the system"
    lines = [
        f"Your {request.kind} approval request for the task \"{request.task.title}\" "
        f"({request.task_id}) was {verdict} by {by}.",
        f"The task is now {request.task.status}.",
    ]
    if request.comment:
        lines += ["", f"Comment: {request.comment}"]
    send_mail(
        subject=f"[TaskManage] {request.kind} approval {verdict}: {request.task.title}"[:200],
        message="\n".join(lines), from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[request.requester.email],
    )


def mail_escalation(name: str, payload: dict) -> None:
    emails = list(
        get_user_model().objects.filter(pk__in=payload["recipient_ids"], is_active=True)
        .exclude(email="").order_by("pk").values_list("email", flat=True)
    )
    request = (
        ApprovalRequest.objects.select_related("task", "requester")
        .filter(pk=payload["request_id"]).first()
    )
    if not emails or request is None:
        return
    asked_by = request.requester.get_username() if request.requester else "the system"
    message = "\n".join([
        f"The {request.kind} approval request #{request.pk} for the task "
        f"\"{request.task.title}\" ({request.task_id}) has waited since "
        f"{request.created_at:%Y-%m-%d %H:%M} UTC (due {request.due_at:%Y-%m-%d %H:%M} UTC).",
        f"Asked by {asked_by}; it is still {request.status}.",
        "",
        "Please decide it, or ask someone who may.",
    ])
    for email in emails:  # one mail each: the recipients need not see one another
        send_mail(
            subject=f"[TaskManage] overdue {request.kind} approval: {request.task.title}"[:200],
            message=message, from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[email],
        )


def count_decision(name: str, payload: dict) -> None:
    if "waited" in payload:
        metrics.WAIT.labels(payload["kind"], payload["status"]).observe(payload["waited"])
