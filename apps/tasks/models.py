"""Task types, tasks and their records (history, logs).

The state machine lives here as django-fsm transitions: each method says from where to where,
and sets the fields that belong to that step. Only apps.tasks.services calls them, inside a
transaction that locked the row and writes the history entry.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from .states import (
    HELD_STATES,
    OPEN_STATES,
    RETRYABLE_STATES,
    WAITING_STATES,
    AssigneeKind,
    LogLevel,
    Priority,
    Queue,
    TaskStatus,
)

S = TaskStatus
RELEASE_TARGETS = (S.QUEUED, S.BLOCKED, S.SCHEDULED)
MAX_SHARDS = 1000  # shards one task may be split into


def release_status(*, has_open_dependencies: bool, run_at: datetime | None, now: datetime) -> str:
    """Where a task goes once it may proceed: waiting on others, on the clock, or ready."""
    if has_open_dependencies:
        return S.BLOCKED
    if run_at is not None and run_at > now:
        return S.SCHEDULED
    return S.QUEUED


class TaskType(models.Model):
    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    assignee_kind = models.CharField(
        max_length=10, choices=AssigneeKind.choices, default=AssigneeKind.STAFF
    )
    requires_creation_approval = models.BooleanField(default=False)
    requires_completion_approval = models.BooleanField(default=False)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    capacity_weight = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1)],
        help_text="How much of a holder's capacity one task of this type takes.",
    )
    timeout = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds a running task may take; empty for no limit."
    )
    max_retries = models.PositiveSmallIntegerField(default=3)
    retry_backoff = models.PositiveIntegerField(
        default=30, help_text="Seconds before the first automatic retry."
    )
    retry_backoff_max = models.PositiveIntegerField(default=3600)
    retry_backoff_factor = models.FloatField(
        default=2.0, validators=[MinValueValidator(1.0), MaxValueValidator(10.0)],
        help_text="Each further retry waits this many times longer (up to the maximum).",
    )
    retry_jitter = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Up to this share of each wait is taken off at random, so that many tasks "
                  "failed together do not all come back at the same moment.",
    )
    queue = models.CharField(max_length=10, choices=Queue.choices, default=Queue.DEFAULT)
    # How the engine hands out this type's work is the assignment app's AssignmentPolicy.
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(capacity_weight__gte=1), name="tasktype_capacity_weight_positive"
            ),
            models.CheckConstraint(
                condition=Q(retry_backoff_max__gte=models.F("retry_backoff")),
                name="tasktype_backoff_max_not_below_base",
            ),
            models.CheckConstraint(
                condition=Q(retry_backoff_factor__gte=1, retry_backoff_factor__lte=10,
                            retry_jitter__gte=0, retry_jitter__lte=1),
                name="tasktype_backoff_shape_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.key

    def backoff_for(self, attempt: int, *, draw: float | None = None) -> timedelta:
        """Delay before automatic retry number `attempt` (1-based): exponential by the type's
        factor, capped at its maximum, less a random share up to its jitter (`draw` in
        [0, 1), random unless given)."""
        seconds = min(self.retry_backoff * self.retry_backoff_factor ** max(attempt - 1, 0),
                      self.retry_backoff_max)
        if self.retry_jitter:
            seconds *= 1 - self.retry_jitter * (random.random() if draw is None else draw)
        return timedelta(seconds=seconds)


class Task(ConcurrentTransitionMixin, models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=300)
    # The FK columns below carry no index of their own (db_index=False): each one leads a
    # composite index in Meta.indexes, which serves every lookup by it (filters, the deletion
    # checks of PROTECT / SET NULL / CASCADE), and every index costs every insert.
    task_type = models.ForeignKey(
        TaskType, on_delete=models.PROTECT, related_name="tasks", db_index=False
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = FSMField(max_length=20, choices=TaskStatus.choices, default=S.DRAFT)
    payload = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    progress = models.PositiveSmallIntegerField(
        default=0, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    estimated_completion = models.DateTimeField(null=True, blank=True)
    assignee_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="assigned_tasks", db_index=False,
    )
    # Held by an execution unit instead of a person (never both: task_one_holder). A string
    # reference: apps.tasks imports nothing of apps.execution, the table only points at it.
    assignee_unit = models.ForeignKey(
        "execution.ExecutionUnit", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="tasks", db_index=False,
    )
    # Until when a unit's claim holds; past it (no heartbeat, no progress) a sweep sends the
    # task back to the queue. Only set while a unit holds the task.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="created_tasks", db_index=False,
    )
    reference = models.CharField(max_length=200, blank=True)
    labels = models.JSONField(default=list, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    run_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # The capacity its holder took for it at hand-over (the type's weight then), given back
    # exactly when they let it go: the type's weight may have changed since.
    held_weight = models.PositiveSmallIntegerField(default=0, editable=False)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children",
        db_index=False,
    )
    # Sharding (execution units): a parent asks for `shard_count` shards (null: as many as
    # its type's sharding_broadcast finds units); each shard has its `shard_index` and the
    # same `shard_count`, and `parent` points at the task it is a part of.
    shard_index = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    shard_count = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_SHARDS)])
    depends_on = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="dependents"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # First time the task became ready: a task that comes back to the queue keeps its age.
    queued_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The queue: ready work by priority, then age (assignment, sweeps).
            models.Index(
                fields=["-priority", "queued_at"], name="task_queue_idx",
                condition=Q(status=S.QUEUED),
            ),
            # The clock: scheduled work whose run_at has come (promotion sweep).
            models.Index(
                fields=["run_at"], name="task_scheduled_idx", condition=Q(status=S.SCHEDULED)
            ),
            models.Index(fields=["status", "-created_at"], name="task_status_created_idx"),
            models.Index(fields=["task_type", "status"], name="task_type_status_idx"),
            # Ended work by when it ended: throughput, durations, on-time and per-person rates
            # over the last hour or day are an index-only range of it, not reads of the table
            # (apps.stats): the columns after finished_at are carried for those figures.
            # Partial: open tasks (finished_at null) never enter it, so creating one does not
            # touch it.
            models.Index(
                fields=["status", "finished_at", "assignee_user", "task_type", "started_at",
                        "due_at"],
                name="task_finished_idx", condition=Q(finished_at__isnull=False),
            ),
            # Queue depth and oldest age per type and priority, index-only (apps.stats).
            models.Index(
                fields=["task_type", "priority", "queued_at"], name="task_queued_type_idx",
                condition=Q(status=S.QUEUED),
            ),
            # Open work with a deadline: what is overdue now (SLA breaches) is a range of it.
            models.Index(
                fields=["due_at"], name="task_open_due_idx",
                condition=Q(due_at__isnull=False, status__in=sorted(OPEN_STATES)),
            ),
            # Open work by status and priority, index-only: the metrics' queue depth and the
            # stats' open counts cost the open work, never the ended rows around it.
            models.Index(
                fields=["status", "priority"], name="task_open_status_idx",
                condition=Q(status__in=sorted(OPEN_STATES)),
            ),
            models.Index(fields=["reference"], name="task_reference_idx"),
            # Partial: a new task has no holder, so creating one does not touch this index;
            # `assignee_user_id = x` (and IN) implies the condition, so lookups still use it.
            models.Index(
                fields=["assignee_user", "status"], name="task_held_status_idx",
                condition=Q(assignee_user__isnull=False),
            ),
            models.Index(
                fields=["assignee_unit", "status"], name="task_unit_status_idx",
                condition=Q(assignee_unit__isnull=False),
            ),
            models.Index(
                fields=["lease_expires_at"], name="task_lease_idx",
                condition=Q(lease_expires_at__isnull=False),
            ),
            models.Index(fields=["created_by", "-created_at"], name="task_creator_idx"),
            # Few tasks have a parent: the others skip this index on insert.
            models.Index(
                fields=["parent"], name="task_parent_idx", condition=Q(parent__isnull=False)
            ),
            # Sharded parents waiting to be split: few, looked for on every claim.
            models.Index(
                fields=["task_type"], name="task_unsplit_idx",
                condition=Q(status=S.QUEUED, shard_count__isnull=False,
                            shard_index__isnull=True),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"], name="task_idempotency_unique",
                condition=Q(idempotency_key__isnull=False),
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0, progress__lte=100), name="task_progress_0_100"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=sorted(HELD_STATES)) | Q(assignee_user__isnull=False)
                | Q(assignee_unit__isnull=False)
                # A split parent runs while its shards do: they hold its work.
                | Q(status=S.RUNNING, shard_count__isnull=False, shard_index__isnull=True),
                name="task_held_has_assignee",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=sorted(WAITING_STATES))
                | Q(assignee_user__isnull=True, assignee_unit__isnull=True),
                name="task_waiting_has_no_assignee",
            ),
            # A person or a unit holds a task, never both.
            models.CheckConstraint(
                condition=Q(assignee_user__isnull=True) | Q(assignee_unit__isnull=True),
                name="task_one_holder",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"

    @property
    def state_fields(self):
        # django-fsm looks for the state fields among all 27 fields on every instance it
        # makes (list pages load 50, a batch create builds 1000); there is one.
        return (self._meta.get_field("status"),)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def priority_name(self) -> str:
        return Priority(self.priority).key

    # --- helpers the transitions share -------------------------------------------------------
    def _has_open_dependencies(self) -> bool:
        return self.depends_on.exclude(status=S.COMPLETED).exists()

    def _release(self, *, dependencies_done: bool = False) -> str:
        target = release_status(
            has_open_dependencies=not dependencies_done and self._has_open_dependencies(),
            run_at=self.run_at, now=timezone.now(),
        )
        if target == S.QUEUED:
            self._mark_queued()
        return target

    def _mark_queued(self) -> None:
        self.queued_at = self.queued_at or timezone.now()

    def _unassign(self) -> None:
        self.assignee_user = None
        self.assignee_unit = None
        self.lease_expires_at = None
        self.assigned_at = None

    def _is_whole(self) -> bool:
        """A sharded parent: done by its shards, never held itself."""
        return self.shard_count is not None and self.shard_index is None

    def _not_whole(self) -> bool:
        return not self._is_whole()


    def _was_released(self) -> bool:
        # A task cancelled before it was ever approved must not skip approval by a retry.
        return self.queued_at is not None

    # --- transitions -------------------------------------------------------------------------
    @transition(field=status, source=S.DRAFT,
                target=RETURN_VALUE(S.PENDING_APPROVAL, *RELEASE_TARGETS))
    def submit(self) -> str:
        if self.task_type.requires_creation_approval:
            return S.PENDING_APPROVAL
        return self._release()

    @transition(field=status, source=S.PENDING_APPROVAL, target=RETURN_VALUE(*RELEASE_TARGETS))
    def approve(self) -> str:
        return self._release()

    @transition(field=status, source=S.PENDING_APPROVAL, target=S.REJECTED)
    def reject(self) -> None:
        self.finished_at = timezone.now()

    @transition(field=status, source=S.BLOCKED, target=RETURN_VALUE(S.SCHEDULED, S.QUEUED))
    def release(self, *, dependencies_done: bool = False) -> str:
        """Every dependency is done: on to the clock or the queue. `dependencies_done`: the
        caller read that for a batch of dependants in one query, not one query each."""
        return self._release(dependencies_done=dependencies_done)

    @transition(field=status, source=S.SCHEDULED, target=S.QUEUED)
    def promote(self) -> None:
        """run_at has come."""
        self._mark_queued()

    @transition(field=status, source=S.QUEUED, target=S.ASSIGNED, conditions=[_not_whole])
    def assign(self, *, user=None, unit_id: int | None = None,
               lease_until: datetime | None = None) -> None:
        """To a person (`user`) or to an execution unit (`unit_id`, under a lease)."""
        self.assignee_user = user
        self.assignee_unit_id = unit_id
        self.lease_expires_at = lease_until if unit_id is not None else None
        self.assigned_at = timezone.now()

    def _begin_attempt(self) -> None:
        self.attempts += 1
        self.started_at = timezone.now()

    @transition(field=status, source=S.ASSIGNED, target=S.RUNNING)
    def accept(self) -> None:
        self._begin_attempt()

    @transition(field=status, source=S.ASSIGNED, target=S.RUNNING)
    def start(self) -> None:
        self._begin_attempt()

    @transition(field=status, source=S.QUEUED, target=S.RUNNING, conditions=[_is_whole])
    def split(self) -> None:
        """A sharded parent runs as its shards: nobody holds it, it ends when they have."""
        self._begin_attempt()

    @transition(field=status, source=S.RUNNING, target=S.COMPLETED, conditions=[_is_whole])
    def join(self, *, result=None) -> None:
        """Every shard completed: the parent's result is theirs, reduced."""
        self._completed_with(result)

    @transition(field=status, source=S.RUNNING, target=S.FAILED, conditions=[_is_whole])
    def fail_shards(self, *, error: str) -> None:
        """A shard failed for good, and the parent's policy is to fail with it. Not
        scheduled for a retry of its own: retried by hand, only its failed shards run again."""
        self.error = error
        self.finished_at = timezone.now()

    @transition(field=status, source=S.ASSIGNED, target=S.QUEUED)
    def decline(self) -> None:
        self._unassign()

    @transition(field=status, source=S.ASSIGNED, target=S.QUEUED)
    def expire(self) -> None:
        self._unassign()

    @transition(field=status, source=S.RUNNING, target=S.PAUSED, conditions=[_not_whole])
    def pause(self) -> None:
        pass

    @transition(field=status, source=S.PAUSED, target=S.RUNNING)
    def resume(self) -> None:
        pass

    @transition(field=status, source=S.RUNNING, target=S.COMPLETED, conditions=[_not_whole])
    def complete(self, *, result=None) -> None:
        self._completed_with(result)

    def _completed_with(self, result) -> None:
        self.result = result
        self.progress = 100
        self.finished_at = timezone.now()

    @transition(field=status, source=S.RUNNING, target=S.IN_REVIEW, conditions=[_not_whole])
    def submit_for_review(self, *, result=None) -> None:
        self.result = result

    @transition(field=status, source=S.IN_REVIEW, target=S.COMPLETED)
    def approve_review(self) -> None:
        self.progress = 100
        self.finished_at = timezone.now()

    @transition(field=status, source=S.IN_REVIEW, target=S.RUNNING)
    def reject_review(self) -> None:
        pass

    @transition(field=status, source=[S.ASSIGNED, S.RUNNING],
                target=RETURN_VALUE(S.SCHEDULED, S.FAILED), conditions=[_not_whole])
    def fail(self, *, error: str = "", retryable: bool = True) -> str:
        """Retried after its backoff while retries remain, unless the failure says retrying
        cannot help (`retryable=False`): then it ends failed at once (a dead letter)."""
        if self.status == S.ASSIGNED:
            self.attempts += 1  # the attempt was spent even though it never started
        self.error = error
        if retryable and self.attempts <= self.task_type.max_retries:
            self._unassign()
            self.run_at = timezone.now() + self.task_type.backoff_for(self.attempts)
            return S.SCHEDULED
        self.finished_at = timezone.now()
        return S.FAILED

    @transition(field=status, source=[S.ASSIGNED, S.RUNNING, S.PAUSED], target=S.QUEUED,
                conditions=[_not_whole])
    def requeue(self) -> None:
        """Taken back from its holder: reassignment, leave, timeout, a unit gone silent."""
        self._unassign()

    @transition(field=status, source=list(RETRYABLE_STATES), target=S.QUEUED,
                conditions=[_was_released])
    def retry(self) -> None:
        self._unassign()
        self.error = ""
        self.result = None
        self.progress = 0
        self.finished_at = None
        self.run_at = None

    @transition(field=status, source=list(OPEN_STATES), target=S.CANCELLED)
    def cancel(self) -> None:
        self.finished_at = timezone.now()


class DeadLetter(Task):
    """The dead-letter queue: tasks that failed for good (their retries spent), as the admin
    lists them for replay. No table of its own: a view of Task."""

    class Meta:
        proxy = True
        verbose_name = "dead letter"

    def __str__(self) -> str:
        return f"{self.title} (failed)"


class TaskHistory(models.Model):
    """One row per transition: the audit trail of a task."""

    class ActorKind(models.TextChoices):
        USER = "user"
        UNIT = "unit"
        SYSTEM = "system"

    # No index of its own: taskhistory_task_idx (task, created_at) leads with it.
    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="history", db_index=False
    )
    transition = models.CharField(max_length=40)
    from_status = models.CharField(max_length=20, choices=TaskStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=TaskStatus.choices)
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["task", "created_at"], name="taskhistory_task_idx")]
        verbose_name_plural = "task history"

    def __str__(self) -> str:
        return f"{self.transition}: {self.from_status or '∅'} → {self.to_status}"


class TaskLog(models.Model):
    """An execution log line, per attempt."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="logs")
    attempt = models.PositiveIntegerField(default=0)
    level = models.CharField(max_length=10, choices=LogLevel.choices, default=LogLevel.INFO)
    message = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["task", "attempt", "id"], name="tasklog_task_idx")]

    def __str__(self) -> str:
        return f"[{self.level}] {self.message[:60]}"
