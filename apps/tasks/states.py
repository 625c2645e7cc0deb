"""Task states, priorities and the groups the rest of the code reasons about.

Kept apart from the models so that selectors, serializers and other apps can import the
vocabulary without importing the model layer.
"""

from __future__ import annotations

from django.db import models


class TaskStatus(models.TextChoices):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    BLOCKED = "blocked"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    RUNNING = "running"
    PAUSED = "paused"
    IN_REVIEW = "in_review"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


S = TaskStatus
TERMINAL_STATES = frozenset({S.COMPLETED, S.FAILED, S.CANCELLED, S.REJECTED})
OPEN_STATES = frozenset(set(S) - TERMINAL_STATES)
# Work somebody holds: it counts against the holder's capacity and has an assignee.
HELD_STATES = frozenset({S.ASSIGNED, S.RUNNING, S.PAUSED, S.IN_REVIEW})
# Work nobody holds yet: it never has an assignee.
WAITING_STATES = frozenset({S.DRAFT, S.PENDING_APPROVAL, S.BLOCKED, S.SCHEDULED, S.QUEUED})
RETRYABLE_STATES = frozenset({S.FAILED, S.CANCELLED})


class Transition(models.TextChoices):
    """The model's transitions (django-fsm methods on Task), by the name history records.

    Listeners in other apps match on these rather than on spelled-out strings, so a renamed
    transition breaks at import, not silently at run time.
    """

    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    RELEASE = "release"
    PROMOTE = "promote"
    ASSIGN = "assign"
    SPLIT = "split"
    JOIN = "join"
    FAIL_SHARDS = "fail_shards"
    ACCEPT = "accept"
    START = "start"
    DECLINE = "decline"
    EXPIRE = "expire"
    PAUSE = "pause"
    RESUME = "resume"
    COMPLETE = "complete"
    SUBMIT_FOR_REVIEW = "submit_for_review"
    APPROVE_REVIEW = "approve_review"
    REJECT_REVIEW = "reject_review"
    FAIL = "fail"
    REQUEUE = "requeue"
    RETRY = "retry"
    CANCEL = "cancel"


class Priority(models.IntegerChoices):
    """Stored as a number so that queues sort by it; spoken as a word in the API."""

    LOW = 0, "low"
    NORMAL = 1, "normal"
    HIGH = 2, "high"
    CRITICAL = 3, "critical"

    @classmethod
    def from_name(cls, name: str) -> Priority:
        return _PRIORITY_BY_NAME[name]

    @property
    def key(self) -> str:
        return str(self.label)


_PRIORITY_BY_NAME = {str(p.label): p for p in Priority}
PRIORITY_NAMES = tuple(_PRIORITY_BY_NAME)


class AssigneeKind(models.TextChoices):
    STAFF = "staff"
    UNIT = "unit"


class Queue(models.TextChoices):
    CRITICAL = "critical"
    DEFAULT = "default"
    LOW = "low"


class LogLevel(models.TextChoices):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
