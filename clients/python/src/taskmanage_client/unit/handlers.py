"""Handlers: what a unit does with a task, found by name in a registry.

A project adds its own with the decorator and has the unit import its module
(`python -m taskmanage_client.unit --import myproject.handlers ...`):

    from taskmanage_client.unit import handler

    @handler("thumbnail")
    def thumbnail(job):
        job.progress(50, "resizing")
        return {"bytes": 18211}

A handler returns the task's result (anything JSON can hold) or raises: `Retryable` and
`Fatal` fail the task with `retryable` true or false, any other exception is a retryable
failure reported with the traceback's last line.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

logger = logging.getLogger("taskmanage_client.unit")

LEVELS = ("debug", "info", "warning", "error")


class Retryable(Exception):
    """The work failed but may succeed later: the server retries it after its backoff."""


class Fatal(Exception):
    """The work cannot succeed (bad payload, refused request): no retry."""


class Cancelled(Exception):
    """Raised by `Job.raise_if_cancelled()`; the runner reports nothing for a cancelled job."""


@dataclass(frozen=True)
class UnitSettings:
    """What the built-in handlers may do on this machine (command-line options)."""

    allow_private_http: bool = False
    enable_shell: bool = False
    http_max_bytes: int = 1024 * 1024
    http_max_timeout: float = 60.0
    shell_max_timeout: float = 600.0
    output_tail_bytes: int = 4096


class Reporter(Protocol):
    """Where a job's progress and log lines go (the runner batches them to the server)."""

    def progress(self, task_id: str, pct: float, message: str | None,
                 eta: datetime | None = None) -> None: ...

    def log(self, task_id: str, message: str, level: str) -> None: ...


class MemoryReporter:
    """Keeps what a job reported, for tests and for running a handler by hand."""

    def __init__(self) -> None:
        self.progresses: list[tuple[float, str | None]] = []
        self.etas: list[datetime | None] = []
        self.lines: list[tuple[str, str]] = []

    def progress(self, task_id: str, pct: float, message: str | None,
                 eta: datetime | None = None) -> None:
        self.progresses.append((pct, message))
        self.etas.append(eta)

    def log(self, task_id: str, message: str, level: str) -> None:
        self.lines.append((level, message))


@dataclass
class Job:
    """One task being worked on, as its handler sees it."""

    task: Any  # taskmanage_client.Task: id, task_type, payload, shard_index, …
    client: Any = None  # the unit's Client, for raw calls (`job.client.request(...)`)
    settings: UnitSettings = field(default_factory=UnitSettings)
    reporter: Reporter = field(default_factory=MemoryReporter)
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def id(self) -> str:
        return str(self.task.id)

    @property
    def payload(self) -> dict[str, Any]:
        payload = getattr(self.task, "payload", None)
        return payload if isinstance(payload, dict) else {}

    def progress(self, pct: float, message: str | None = None, *,
                 remaining: float | None = None) -> None:
        """Report how far the work is (0..100), and optionally the seconds it still needs
        (the task's `estimated_completion`); sent at most twice a second, and each one sent
        renews the task's lease. The message goes to the task's log."""
        eta = None
        if remaining is not None:
            eta = datetime.now(UTC) + timedelta(seconds=max(0.0, float(remaining)))
        self.reporter.progress(self.id, max(0.0, min(100.0, float(pct))), message, eta)

    def log(self, message: str, level: str = "info") -> None:
        if level not in LEVELS:
            level = "info"
        self.reporter.log(self.id, str(message), level)

    def is_cancelled(self) -> bool:
        return self.cancelled.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled(self.id)

    def sleep(self, seconds: float) -> bool:
        """Wait, waking at once on a cancel; True when cancelled."""
        return self.cancelled.wait(max(0.0, seconds))


HandlerFunc = Callable[[Job], Any]


class Registry:
    """Handlers by name. `handlers` below is the default one the decorator fills."""

    def __init__(self) -> None:
        self._handlers: dict[str, HandlerFunc] = {}

    def register(self, name: str, func: HandlerFunc) -> HandlerFunc:
        if not name or not isinstance(name, str):
            raise ValueError("a handler needs a name")
        self._handlers[name] = func
        return func

    def handler(self, name: str) -> Callable[[HandlerFunc], HandlerFunc]:
        def decorate(func: HandlerFunc) -> HandlerFunc:
            return self.register(name, func)

        return decorate

    def get(self, name: str) -> HandlerFunc | None:
        return self._handlers.get(name)

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    def resolve(self, task: Any, handler_for: dict[str, str] | None = None) -> str:
        """The handler's name for a task: its payload's `handler`, else the one mapped to its
        task type (`--handler-for TYPE=NAME`), else the task type's key itself."""
        payload = getattr(task, "payload", None)
        named = payload.get("handler") if isinstance(payload, dict) else None
        if isinstance(named, str) and named:
            return named
        task_type = str(getattr(task, "task_type", "") or "")
        return (handler_for or {}).get(task_type, task_type)


handlers = Registry()
handler = handlers.handler


def run_handler(func: HandlerFunc, job: Job) -> tuple[str, Any]:
    """Run a handler; returns ("completed", result), ("failed", (error, retryable)) or
    ("cancelled", None). Never raises."""
    try:
        result = func(job)
    except Cancelled:
        return "cancelled", None
    except Fatal as exc:
        return "failed", (_error(str(exc) or "fatal error"), False)
    except Retryable as exc:
        return "failed", (_error(str(exc) or "retryable error"), True)
    except Exception as exc:  # a handler's bug must not take the unit down
        logger.exception("handler failed on task %s", job.id)
        return "failed", (_error(last_line(exc)), True)
    if job.is_cancelled():
        return "cancelled", None
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        # Found only when the report is sent, it would fail there for good (and a batch of
        # results with it): the handler's bug, said now, on its own task.
        return "failed", (_error(f"the result is not JSON: {exc}"), False)
    return "completed", result


MAX_ERROR = 10_000  # the longest error the server keeps; a longer one is a 400 for good


def _error(text: str) -> str:
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR - 1] + "…"


def last_line(exc: BaseException) -> str:
    """What the traceback's last line says: `ValueError: bad value`."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def number(payload: dict[str, Any], name: str, *, default: float, low: float,
           high: float) -> float:
    """A numeric payload field within bounds, or Fatal naming it."""
    value = payload.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Fatal(f"payload.{name}: a number is required")
    if not low <= value <= high:
        raise Fatal(f"payload.{name}: must be between {low:g} and {high:g}")
    return float(value)


# --- built-ins -------------------------------------------------------------------------------
@handler("noop")
def noop(job: Job) -> dict[str, Any]:
    return {"ok": True}


@handler("sleep")
def sleep(job: Job) -> dict[str, Any]:
    """Sleeps `payload.seconds`, reporting progress and stopping at once on a cancel."""
    seconds = number(job.payload, "seconds", default=1.0, low=0, high=86400)
    started = time.monotonic()
    step = min(0.5, seconds / 4) if seconds else 0
    while (elapsed := time.monotonic() - started) < seconds:
        job.progress(100 * elapsed / seconds, remaining=seconds - elapsed)
        if job.sleep(min(step, seconds - elapsed)):
            raise Cancelled(job.id)
    job.progress(100)
    return {"slept": seconds}

