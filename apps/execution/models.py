"""Execution units and the record of their status changes.

A unit is a remote worker process with its own credential. Its status is a django-fsm field
(online → draining → offline, back to online on a heartbeat), changed only by
apps.execution.services, which writes one UnitEvent per change. Heartbeats are not written
here one by one: the latest of each unit is kept in Redis and persisted in batches
(services.units_persist_heartbeats), so `last_heartbeat_at` may trail Redis by one sweep.
"""

from __future__ import annotations

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, transition

UNIT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"


class UnitStatus(models.TextChoices):
    ONLINE = "online"
    DRAINING = "draining"  # finishes what it holds, takes nothing new
    OFFLINE = "offline"


U = UnitStatus
# Units that may be given work.
SERVING_STATES = frozenset({U.ONLINE})
# Units whose heartbeats are expected (silence means trouble).
LIVE_STATES = frozenset({U.ONLINE, U.DRAINING})


class ExecutionUnit(models.Model):
    unit_id = models.CharField(
        max_length=100, unique=True, validators=[RegexValidator(UNIT_ID_PATTERN)],
        help_text="Chosen by the unit (worker-001); the id in the API's paths.",
    )
    unit_type = models.CharField(
        max_length=100, help_text="The key of the task type it serves (document_processing)."
    )
    name = models.CharField(max_length=200, blank=True)
    capacity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    labels = models.JSONField(default=list, blank=True)
    endpoint = models.CharField(max_length=500, blank=True)
    status = FSMField(max_length=10, choices=UnitStatus.choices, default=U.ONLINE)
    # Tasks it holds now (leased or running): moved only in the transaction that hands a task
    # over or takes it back, so capacity is exact whatever claims run at once.
    held = models.PositiveIntegerField(default=0, editable=False)
    reported_load = models.PositiveIntegerField(default=0, editable=False)
    metrics = models.JSONField(default=dict, blank=True, editable=False)
    heartbeat_timeout = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1)],
        help_text="Seconds of silence after which the unit is offline and its work fails over.",
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    registered_at = models.DateTimeField(default=timezone.now, editable=False)
    token_rotated_at = models.DateTimeField(default=timezone.now, editable=False)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_assigned_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["unit_id"]
        indexes = [models.Index(fields=["unit_type", "status"], name="unit_type_status_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(capacity__gte=1), name="unit_capacity_positive"),
        ]

    def __str__(self) -> str:
        return self.unit_id

    @property
    def free_capacity(self) -> int:
        return max(self.capacity - self.held, 0)

    # --- transitions (apps.execution.services calls them under a row lock) ---------------------
    @transition(field=status, source=U.ONLINE, target=U.DRAINING)
    def drain(self) -> None:
        pass

    @transition(field=status, source=U.DRAINING, target=U.ONLINE)
    def undrain(self) -> None:
        pass

    @transition(field=status, source=[U.ONLINE, U.DRAINING], target=U.OFFLINE)
    def go_offline(self) -> None:
        pass

    @transition(field=status, source=U.OFFLINE, target=U.ONLINE)
    def come_online(self) -> None:
        pass


class UnitEvent(models.Model):
    """One row per status change or credential event of a unit: its audit trail."""

    unit = models.ForeignKey(ExecutionUnit, on_delete=models.CASCADE, related_name="events")
    event = models.CharField(max_length=30)
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10, blank=True)
    actor_name = models.CharField(max_length=150)
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["unit", "-created_at"], name="unitevent_unit_idx")]

    def __str__(self) -> str:
        return f"{self.unit_id} {self.event}: {self.from_status} → {self.to_status}"


class UnitQueue(models.Model):
    """Flow control of a unit task type's queue: paused (claims skip it, nothing is lost) and
    at most `max_running` of its tasks held by units at once, across all of them. A type
    without a row runs unpaused and unlimited."""

    task_type = models.OneToOneField("tasks.TaskType", on_delete=models.CASCADE,
                                     primary_key=True, related_name="unit_queue")
    max_running = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="At most this many of its tasks held by units at once; empty: no limit.")
    paused = models.BooleanField(default=False,
                                 help_text="Claims skip this type's tasks until resumed.")
    # Units of the type whose key is the task type's serve it; these unit types too.
    unit_types = models.JSONField(
        default=list, blank=True,
        help_text="Further unit types whose units may take this type's tasks.")
    # Round robin: the row id of the unit that had the last turn at this type's work.
    route_cursor = models.BigIntegerField(default=0, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(
            condition=Q(max_running__isnull=True) | Q(max_running__gte=1),
            name="unitqueue_max_running_positive")]

    def __str__(self) -> str:
        return f"{self.task_type_id}: {'paused' if self.paused else 'open'}"
