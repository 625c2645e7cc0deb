"""Assignment records: who was chosen for a task, how, why, and what became of it."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Outcome(models.TextChoices):
    PENDING = "pending"  # waiting for the assignee to accept
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    REVOKED = "revoked"  # taken back: manual reassignment, leave, timeout, cancel…
    FINISHED = "finished"  # the task ended while held (completed, failed)


class Reason(models.TextChoices):
    AUTO = "auto"
    MANUAL = "manual"
    LEAVE = "leave"
    TIMEOUT = "timeout"
    DECLINE = "decline"
    EXPIRY = "expiry"
    DELEGATION = "delegation"
    OVERFLOW = "overflow"
    CANCEL = "cancel"


class LeavePolicy(models.TextChoices):
    """What happens to a person's open work of this type when their leave starts."""

    REASSIGN_ALL = "reassign_all"
    REASSIGN_NOT_STARTED = "reassign_not_started"
    KEEP = "keep"


def validate_strategy_name(value: str) -> None:
    """A strategy the registry knows (apps.assignment.strategies): a name it lacks would make
    every batch holding a task of the type fail, so it is refused where it is typed."""
    from .strategies import strategy_class, unknown_strategy_message

    if strategy_class(value) is None:
        raise ValidationError(unknown_strategy_message(value), code="invalid")


# The strategy a type of each kind starts with when none is named. Staff: the field's
# default (least_loaded). Units: set by apps.execution (`pull`: whoever claims first).
DEFAULT_STRATEGIES: dict[str, str] = {}


def register_default_strategy(kind: str, name: str) -> None:
    DEFAULT_STRATEGIES[kind] = name


def default_strategy_for(kind: str) -> str:
    return DEFAULT_STRATEGIES.get(kind) or AssignmentPolicy.strategy.field.default


class AssignmentPolicy(models.Model):
    """How the engine hands out one task type's work. Owned here, not by the task type: only
    the engine reads it. A type without a row is assigned with the defaults below, so a type
    created anywhere (fixtures, another app) is assignable at once (selectors.policy_of)."""

    task_type = models.OneToOneField("tasks.TaskType", on_delete=models.CASCADE,
                                     primary_key=True, related_name="assignment_policy")
    requires_assignment_confirmation = models.BooleanField(default=False)
    strategy = models.CharField(max_length=50, default="least_loaded",
                                validators=[validate_strategy_name])
    strategy_params = models.JSONField(default=dict, blank=True)
    confirmation_timeout = models.PositiveIntegerField(
        default=3600, help_text="Seconds an assignee has to accept, when confirmation is required."
    )
    skill_timeout = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Seconds a task may wait for a qualified assignee before the pool widens "
                  "(levels relaxed one step, then any holder of the skill, then overflow).",
    )
    overflow_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="Last resort for work nobody qualified could take.",
    )
    leave_policy = models.CharField(
        max_length=20, choices=LeavePolicy.choices, default=LeavePolicy.REASSIGN_NOT_STARTED,
    )

    class Meta:
        verbose_name_plural = "assignment policies"

    def __str__(self) -> str:
        return f"{self.task_type_id}: {self.strategy}"


OPEN_OUTCOMES = (Outcome.PENDING, Outcome.ACCEPTED)


class Assignment(models.Model):
    task = models.ForeignKey("tasks.Task", on_delete=models.CASCADE, related_name="assignments")
    assignee_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    # On whose behalf, when a substitute took work meant for someone on leave.
    delegated_from = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    strategy = models.CharField(max_length=50)
    score = models.FloatField(default=0)
    explanation = models.TextField(blank=True)
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.AUTO)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.PENDING)
    outcome_reason = models.CharField(max_length=200, blank=True)
    # Keeps this person from being offered the task again. Set when they declined it, let it
    # expire or had it taken back; cleared when the task begins a new attempt (a retry), so an
    # exclusion never outlives the attempt it was earned in.
    excludes_assignee = models.BooleanField(default=False)
    assigned_by = models.CharField(max_length=150, default="system")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["task", "-created_at"], name="assignment_task_idx"),
            models.Index(fields=["expires_at"], name="assignment_pending_idx",
                         condition=Q(outcome="pending")),
            models.Index(fields=["assignee_user", "outcome"], name="assignment_user_idx"),
        ]
        constraints = [
            # A task is held by one person at a time: at most one open assignment.
            models.UniqueConstraint(fields=["task"], name="assignment_one_open_per_task",
                                    condition=Q(outcome__in=["pending", "accepted"])),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} → {self.assignee_user_id} ({self.outcome})"


class Unassignable(models.Model):
    """A queued task nobody can take right now, and why: visible in admin and stats."""

    task = models.OneToOneField("tasks.Task", on_delete=models.CASCADE,
                                related_name="unassignable")
    reason = models.CharField(max_length=300)
    since = models.DateTimeField(default=timezone.now)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["since"]
        verbose_name_plural = "unassignable tasks"

    def __str__(self) -> str:
        return f"{self.task_id}: {self.reason}"


class RoundRobinCursor(models.Model):
    """Where round robin stopped, per task type: the next turn goes to the next person."""

    task_type = models.OneToOneField("tasks.TaskType", on_delete=models.CASCADE,
                                     related_name="+")
    last_user_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.task_type_id}: after user {self.last_user_id}"
