"""Approval requests: someone asks, someone else decides.

A request's life cycle is a django-fsm machine (pending → approved | rejected | withdrawn).
Only apps.approvals.services calls the transitions, inside the transaction that locked the
task and the request and moves the task along with the decision.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition


class ApprovalKind(models.TextChoices):
    CREATION = "creation"  # may this task be done at all? (task is pending_approval)
    COMPLETION = "completion"  # is this work done? (task is in_review)


class ApprovalStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


A = ApprovalStatus
DECIDED_STATES = frozenset({A.APPROVED, A.REJECTED, A.WITHDRAWN})


class ApprovalRequest(ConcurrentTransitionMixin, models.Model):
    kind = models.CharField(max_length=20, choices=ApprovalKind.choices)
    task = models.ForeignKey(
        "tasks.Task", on_delete=models.CASCADE, related_name="approval_requests"
    )
    status = FSMField(max_length=20, choices=ApprovalStatus.choices, default=A.PENDING)
    # Null when the system asked (a schedule spawning work) or when the account is gone.
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="approval_requests",
    )
    decider = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="approval_decisions",
    )
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    # Past this, a pending request is overdue and escalates (settings.APPROVAL_ESCALATE_AFTER).
    due_at = models.DateTimeField()
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The inbox: pending requests of a kind, newest first.
            models.Index(fields=["status", "kind", "-created_at"], name="approval_inbox_idx"),
            # The escalation sweep and the overdue filter: pending requests by deadline.
            models.Index(fields=["due_at"], name="approval_pending_due_idx",
                         condition=Q(status=A.PENDING)),
        ]
        constraints = [
            # One open question per task and kind: a second decision has nothing to decide.
            models.UniqueConstraint(fields=["task", "kind"], name="approval_one_pending",
                                    condition=Q(status=A.PENDING)),
            models.CheckConstraint(
                condition=Q(status=A.PENDING) | Q(decided_at__isnull=False),
                name="approval_decided_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} approval #{self.pk} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == A.PENDING

    def overdue_at(self, now: datetime | None = None) -> bool:
        return self.status == A.PENDING and self.due_at <= (now or timezone.now())

    @property
    def is_overdue(self) -> bool:
        return self.overdue_at()

    # --- transitions -------------------------------------------------------------------------
    def _decide(self, decider, comment: str) -> None:
        self.decider = decider
        self.comment = comment
        self.decided_at = timezone.now()

    @transition(field=status, source=A.PENDING, target=A.APPROVED)
    def approve(self, *, decider, comment: str = "") -> None:
        self._decide(decider, comment)

    @transition(field=status, source=A.PENDING, target=A.REJECTED)
    def reject(self, *, decider, comment: str) -> None:
        self._decide(decider, comment)

    @transition(field=status, source=A.PENDING, target=A.WITHDRAWN)
    def withdraw(self, *, decider=None, comment: str = "") -> None:
        self._decide(decider, comment)
