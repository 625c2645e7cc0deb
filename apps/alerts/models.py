"""Alert rules (edited in the admin), their incidents, and the record of every alert sent.

An incident is a rule and a subject (a task type, a unit, a queue, an approval request):
whatever keeps firing about the same subject within the rule's quiet period is one incident
and sends one alert; once the quiet period has passed, a condition still true sends again.
"""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, validate_email
from django.db import models
from django.utils import timezone

URL_MAX_LENGTH = 2000


class AlertKind(models.TextChoices):
    TASK_FAILED = "task_failed", "A task ended failed"
    SLA_BREACH = "sla_breach", "Open tasks past their due time"
    UNIT_OFFLINE = "unit_offline", "An execution unit went offline"
    QUEUE_BACKED_UP = "queue_backed_up", "A queue backed up"
    APPROVAL_OVERDUE = "approval_overdue", "An approval request overdue"


# Kinds the periodic sweep checks; the others are raised by the domain's events.
SWEPT_KINDS = (AlertKind.SLA_BREACH, AlertKind.QUEUE_BACKED_UP, AlertKind.APPROVAL_OVERDUE)
TYPED_KINDS = (AlertKind.TASK_FAILED, AlertKind.SLA_BREACH, AlertKind.QUEUE_BACKED_UP,
               AlertKind.UNIT_OFFLINE)


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


def split_addresses(text: str) -> list[str]:
    return [a.strip() for a in text.replace("\n", ",").split(",") if a.strip()]


class AlertRule(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    is_active = models.BooleanField(default=True)
    task_type = models.ForeignKey(
        "tasks.TaskType", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        help_text="Only this task type (failed tasks, SLA, queues) or the units serving it "
                  "(units offline); empty: all.")
    max_depth = models.PositiveIntegerField(
        null=True, blank=True, help_text="Backed-up queue: more than this many tasks queued.")
    max_age_seconds = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Backed-up queue: the oldest queued task has waited longer than this.")
    quiet_period_seconds = models.PositiveIntegerField(
        default=3600, validators=[MinValueValidator(1)],
        help_text="After an alert, the same incident (this rule and the same subject) sends "
                  "nothing more for this long.")
    email_to = models.TextField(blank=True, help_text="Addresses, separated by commas.")
    webhook_url = models.CharField(
        max_length=URL_MAX_LENGTH, blank=True,
        help_text="POSTed a JSON body signed like callbacks (X-TaskManage-Signature), with "
                  "this rule's webhook secret.")
    webhook_secret = models.CharField(max_length=64, default=new_webhook_secret, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["kind", "is_active"], name="alertrule_kind_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(quiet_period_seconds__gte=1),
                                   name="alertrule_quiet_period_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def email_recipients(self) -> list[str]:
        return split_addresses(self.email_to)

    def clean(self):
        from .services import rule_problems  # the rules of a valid rule live with the services

        problems = rule_problems(rule=self)
        if problems:
            raise ValidationError(problems)


def validate_addresses(text: str) -> str | None:
    for address in split_addresses(text):
        try:
            validate_email(address)
        except ValidationError:
            return f"{address} is not an email address."
    return None


class AlertIncident(models.Model):
    """A rule's subject that fired, and when it last sent: the quiet period's memory."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="incidents")
    subject = models.CharField(max_length=200)
    first_fired_at = models.DateTimeField()
    last_sent_at = models.DateTimeField(null=True, blank=True)
    alerts_sent = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "subject"],
                                               name="alertincident_one_per_subject")]

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.subject}"


class ChannelStatus(models.TextChoices):
    NONE = "none"  # the rule has no such channel
    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker
    SENT = "sent"
    FAILED = "failed"


class Alert(models.Model):
    """One alert sent (or being sent): kept when its rule is deleted."""

    rule = models.ForeignKey(AlertRule, null=True, on_delete=models.SET_NULL,
                             related_name="alerts")
    rule_name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    subject = models.CharField(max_length=200)
    summary = models.CharField(max_length=500)
    details = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    email_to = models.TextField(blank=True)
    email_status = models.CharField(max_length=10, choices=ChannelStatus.choices)
    email_error = models.CharField(max_length=500, blank=True)
    webhook_url = models.CharField(max_length=URL_MAX_LENGTH, blank=True)
    webhook_status = models.CharField(max_length=10, choices=ChannelStatus.choices)
    webhook_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    webhook_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at"], name="alert_created_idx"),
            # Alerts whose delivery is not done yet: the sweep's re-drive of lost messages.
            models.Index(fields=["created_at"], name="alert_undelivered_idx",
                         condition=models.Q(email_status__in=["pending", "sending"])
                         | models.Q(webhook_status__in=["pending", "sending"])),
        ]

    def __str__(self) -> str:
        return f"{self.rule_name}: {self.summary}"
