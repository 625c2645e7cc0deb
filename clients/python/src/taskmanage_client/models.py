"""What the API answers, as frozen dataclasses.

Built with `from_json`: fields the server adds later are ignored (an older client keeps
working against a newer server) and fields it does not send take their defaults. Lists come
as tuples so the objects stay immutable. A field marked `metadata={"wire": False}` is
worked out by the client, not read from the JSON (tests/client/test_schema_drift.py skips it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, get_type_hints

T = TypeVar("T")

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "rejected"})


def _datetime(value: Any) -> datetime | None:
    return None if value in (None, "") else datetime.fromisoformat(value)


def _tuple(value: Any) -> tuple:
    return tuple(value or ())


def _build(cls: type[T], data: dict[str, Any], **converted: Any) -> T:
    """`cls` from the JSON object `data`: known fields only; datetimes parsed, lists made
    tuples by the field's declared type; `converted` overrides (nested objects)."""
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in converted:
            values[f.name] = converted[f.name]
        elif f.metadata.get("wire", True) and f.name in data:
            kind = str(hints[f.name])
            raw = data[f.name]
            if "datetime" in kind:
                raw = _datetime(raw)
            elif kind.startswith("tuple"):
                raw = _tuple(raw)
            values[f.name] = raw
    return cls(**values)


@dataclass(frozen=True)
class Assignee:
    """Who holds a task: a member of staff, a user, or an execution unit (`id` its unit id)."""

    kind: str
    id: int | str
    user_id: int | None = None
    name: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Assignee:
        return _build(cls, data)


@dataclass(frozen=True)
class Task:
    id: str
    title: str = ""
    task_type: str = ""
    priority: str = ""
    status: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: str = ""
    progress: int = 0
    estimated_completion: datetime | None = None
    assignee: Assignee | None = None
    created_by: str | None = None
    reference: str = ""
    labels: tuple[str, ...] = ()
    idempotency_key: str | None = None
    run_at: datetime | None = None
    due_at: datetime | None = None
    attempts: int = 0
    parent: str | None = None
    shard_index: int | None = None
    shard_count: int | None = None
    depends_on: tuple[str, ...] = ()
    allowed_transitions: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    queued_at: datetime | None = None
    assigned_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # A workflow task's dependencies' results by their keys, in a claim's answer and a
    # task's detail (get_task); None elsewhere, and for a task outside a workflow.
    inputs: dict[str, Any] | None = None

    @property
    def is_terminal(self) -> bool:
        """Completed, failed, cancelled or rejected: nothing more happens to it by itself."""
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        holder = data.get("assignee")
        parent = data.get("parent")
        return _build(cls, data,
                      assignee=Assignee.from_json(holder) if holder else None,
                      parent=None if parent is None else str(parent))


@dataclass(frozen=True)
class Unit:
    """An execution unit as the API shows it (`tasks`: the ids it holds, on its own page)."""

    id: str
    unit_type: str = ""
    name: str = ""
    status: str = ""
    capacity: int = 1
    held: int = 0
    current_load: int = 0
    labels: tuple[str, ...] = ()
    endpoint: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    heartbeat_timeout: int = 30
    registered_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    last_assigned_at: datetime | None = None
    tasks: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Unit:
        return _build(cls, data)


@dataclass(frozen=True)
class Registration:
    """A unit registered: `token` (tmu_…, shown once) is what the unit authenticates with."""

    unit: Unit
    token: str
    created: bool = field(default=True, metadata={"wire": False})  # 201, not 200

    @classmethod
    def from_json(cls, data: dict[str, Any], *, created: bool = True) -> Registration:
        return cls(unit=Unit.from_json(data["unit"]), token=data["token"], created=created)


@dataclass(frozen=True)
class Heartbeat:
    """The unit's status, and its tasks cancelled since its last heartbeat: stop them."""

    status: str
    cancelled: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Heartbeat:
        return _build(cls, data)


@dataclass(frozen=True)
class LogLine:
    id: int
    attempt: int = 0
    level: str = "info"
    message: str = ""
    created_at: datetime | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogLine:
        return _build(cls, data)


@dataclass(frozen=True)
class Outcome:
    """One result of `report_results`: the task's status now, or `conflict` when the unit
    did not hold it (any more)."""

    task_id: str
    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "conflict"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        return _build(cls, data)
