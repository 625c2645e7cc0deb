"""Schedules and the record of what each spawned.

Exactly once is the database's job: one `Spawn` row per (schedule, planned time), enforced by
a unique constraint, written in the same transaction as the task it spawned.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django_celery_beat.models import PeriodicTask

from apps.tasks.models import Task, TaskType


class Overlap(models.TextChoices):
    ALLOW = "allow"
    SKIP = "skip"  # not while a task this schedule spawned is still open
    REPLACE = "replace"  # cancel the open one, then spawn


class Misfire(models.TextChoices):
    SKIP = "skip"  # runs missed while nothing fired are dropped
    RUN_ONCE = "run_once"  # one catch-up run for all that was missed


class Kind(models.TextChoices):
    CRON = "cron"
    INTERVAL = "interval"
    DELAY = "delay"
    ONCE = "once"


def _exactly_one_when() -> Q:
    """A cron, an interval, a delay or one moment: exactly one of them is set."""
    given = [~Q(cron=""), Q(interval_seconds__isnull=False), Q(delay_seconds__isnull=False),
             Q(run_once_at__isnull=False)]
    condition = None
    for i, chosen in enumerate(given):
        term = chosen
        for j, other in enumerate(given):
            if j != i:
                term &= ~other
        condition = term if condition is None else condition | term
    return condition


class Schedule(models.Model):
    name = models.CharField(max_length=200, unique=True)
    task_type = models.ForeignKey(TaskType, on_delete=models.PROTECT, related_name="schedules")
    title = models.CharField(
        max_length=300, help_text="A template: {planned:%Y-%m-%d} is the planned time.")
    payload = models.JSONField(default=dict, blank=True)
    priority = models.SmallIntegerField(null=True, blank=True)
    reference = models.CharField(max_length=200, blank=True, default="")
    labels = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    overlap = models.CharField(max_length=10, choices=Overlap.choices, default=Overlap.ALLOW)
    misfire = models.CharField(max_length=10, choices=Misfire.choices, default=Misfire.SKIP)
    cron = models.CharField(max_length=100, blank=True, default="")
    timezone = models.CharField(max_length=64, default="UTC")
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    delay_seconds = models.PositiveIntegerField(null=True, blank=True)
    run_once_at = models.DateTimeField(null=True, blank=True)
    # Where interval slots count from: planned times are anchor + k * interval.
    anchor = models.DateTimeField(default=now)
    periodic_task = models.OneToOneField(
        PeriodicTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+")
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(name="schedule_exactly_one_when",
                                   condition=_exactly_one_when()),
            models.CheckConstraint(name="schedule_interval_positive",
                                   condition=Q(interval_seconds__isnull=True)
                                   | Q(interval_seconds__gt=0)),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def kind(self) -> str:
        if self.cron:
            return Kind.CRON
        if self.interval_seconds:
            return Kind.INTERVAL
        if self.delay_seconds is not None:
            return Kind.DELAY
        return Kind.ONCE


class SpawnOrigin(models.TextChoices):
    BEAT = "beat"
    TRIGGER = "trigger"
    BACKFILL = "backfill"


class Spawn(models.Model):
    """One planned time of one schedule, and what came of it (a task, or nothing: skipped)."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="spawns")
    planned_time = models.DateTimeField()
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    origin = models.CharField(max_length=10, choices=SpawnOrigin.choices,
                              default=SpawnOrigin.BEAT)
    skipped = models.CharField(max_length=200, blank=True, default="",
                               help_text="Why nothing was spawned for this planned time.")
    created_at = models.DateTimeField(default=now)
    # The fencing token of the beat leader whose firing wrote this row (apps.schedules.leader);
    # empty for a trigger, a backfill or a firing from a scheduler without a lease.
    token = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-planned_time"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "planned_time"],
                                    name="spawn_once_per_planned_time"),
        ]

    def __str__(self) -> str:
        return f"{self.schedule} @ {self.planned_time.isoformat()}"


class LeaderFence(models.Model):
    """One row (pk 1): the highest fencing token a beat leader recorded before dispatching.

    Raised only (UPDATE ... WHERE token < new). A firing that carries a lower token comes from
    a leader that has been replaced (paused, partitioned): its spawn is refused and counted.
    The leader also records here how far it has dispatched, so its successor knows where to
    take over from.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    token = models.BigIntegerField(default=0)
    holder = models.CharField(max_length=200, blank=True, default="")
    raised_at = models.DateTimeField(null=True, blank=True)
    dispatched_until = models.DateTimeField(null=True, blank=True)
    refused = models.BigIntegerField(default=0, help_text="Firings refused for a stale token.")

    class Meta:
        constraints = [models.CheckConstraint(name="leader_fence_single_row",
                                              condition=Q(id=1))]

    def __str__(self) -> str:
        return f"leader token {self.token} ({self.holder or 'none'})"
