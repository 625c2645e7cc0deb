"""The synchronous client: `Client("http://127.0.0.1:8000", token=...)`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx

from . import _calls as calls
from ._base import BaseClient
from ._transport import (
    Call,
    error_for,
    may_have_run,
    retry_after,
    settled_by_retry,
    transport_error,
)
from .errors import WaitTimeout
from .models import Heartbeat, LogLine, Outcome, Registration, Task, Unit


class Client(BaseClient):
    """TaskManage over HTTP, for services (create, follow, cancel tasks) and for execution
    units (register, heartbeat, claim, report). Thread-safe as httpx.Client is; use it as a
    context manager or call `close()`."""

    def _open(self, transport: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=self._timeout, transport=transport,
                            headers={"User-Agent": self.user_agent})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the one request loop -----------------------------------------------------------------
    def _run(self, call: Call, **extra: Any) -> Any:
        attempt = 0
        ran = False  # whether an earlier attempt may have done the work (its answer lost)
        while True:
            try:
                response = self._http.request(**self._request_args(call, extra))
            except httpx.TransportError as exc:
                if not self._policy.retry_exception(call, exc, attempt):
                    raise transport_error(call, exc, attempt + 1) from exc
                ran = ran or may_have_run(exc)
                time.sleep(self._policy.delay(attempt))
                attempt += 1
                continue
            if response.is_success:
                return call.parse(response)
            if settled_by_retry(call, response, earlier_may_have_run=ran):
                return self._run(call.recover()) if call.recover else None
            if not self._policy.retry_response(call, response, attempt):
                raise error_for(response)
            ran = ran or may_have_run(response)
            time.sleep(self._policy.delay(attempt, retry_after(response)))
            attempt += 1

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Any endpoint, with the client's auth, retries and errors (a 4xx/5xx raises).
        `kwargs` go to httpx (json, params, headers, timeout…); `safe=True` lets a POST be
        repeated after a lost answer, as GET, PUT and DELETE are."""
        safe = kwargs.pop("safe", None)
        return self._run(Call(method.upper(), path, safe=safe), **kwargs)

    # --- service side -------------------------------------------------------------------------
    def login(self, username: str, password: str) -> str:
        """Exchange a username and password for a token; the client uses it from now on."""
        self.token = self._run(calls.login(username, password))
        return self.token

    def create_task(self, *, title: str, task_type: str, priority: str | None = None,
                    payload: dict | None = None, reference: str | None = None,
                    labels: list[str] | None = None, run_at: datetime | str | None = None,
                    due_at: datetime | str | None = None, depends_on: list[str] | None = None,
                    shard_count: int | None = None, draft: bool = False,
                    idempotency_key: str | None = None) -> Task:
        return self._run(calls.create_task(
            title=title, task_type=task_type, priority=priority, payload=payload,
            reference=reference, labels=labels, run_at=run_at, due_at=due_at,
            depends_on=depends_on, shard_count=shard_count, draft=draft,
            idempotency_key=idempotency_key))

    def create_tasks(self, items: list[dict]) -> list[Task]:
        """Create many in one request (all or none), then read each back: the batch answer
        carries ids and statuses only."""
        ids = self._run(calls.create_tasks(items))
        return [self.get_task(task_id) for task_id in ids]

    def get_task(self, task_id: str) -> Task:
        return self._run(calls.get_task(task_id))

    def list_tasks(self, *, status: str | list[str] | None = None, task_type: str | None = None,
                   priority: str | None = None, reference: str | None = None,
                   parent: str | None = None, page_size: int = 100) -> Iterator[Task]:
        """Every task matching the filters, a page fetched only when the previous is used up."""
        page = 1
        while True:
            tasks, more = self._run(calls.list_tasks(
                page=page, page_size=page_size, status=status, task_type=task_type,
                priority=priority, reference=reference, parent=parent))
            yield from tasks
            if not more:
                return
            page += 1

    def wait_for(self, task_id: str, *, timeout: float = 60.0, poll: float = 0.5) -> Task:
        """The task once it is completed, failed, cancelled or rejected; WaitTimeout (a
        TimeoutError) after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.get_task(task_id)
            left = deadline - time.monotonic()
            if task.is_terminal:
                return task
            if left <= 0:
                raise WaitTimeout(f"task {task_id} still {task.status} after {timeout}s",
                                  task=task)
            time.sleep(min(poll, left))

    def cancel(self, task_id: str, *, reason: str = "") -> Task:
        return self._run(calls.cancel(task_id, reason=reason))

    def retry(self, task_id: str) -> Task:
        return self._run(calls.retry(task_id))

    def logs(self, task_id: str, *, attempt: int | None = None) -> list[LogLine]:
        lines: list[LogLine] = []
        page = 1
        while True:
            batch, more = self._run(calls.logs(task_id, page=page, attempt=attempt))
            lines += batch
            if not more:
                return lines
            page += 1

    # --- unit side ----------------------------------------------------------------------------
    def register_unit(self, *, unit_id: str, unit_type: str, name: str | None = None,
                      capacity: int = 1, endpoint: str | None = None,
                      labels: list[str] | None = None, heartbeat_timeout: int | None = None,
                      registration_secret: str | None = None) -> Registration:
        """Register (or re-register: a new token) a unit. The client's own token stays: the
        unit goes on with `Client(url, token=registration.token)`."""
        return self._run(calls.register_unit(
            unit_id=unit_id, unit_type=unit_type, name=name, capacity=capacity,
            endpoint=endpoint, labels=labels, heartbeat_timeout=heartbeat_timeout,
            registration_secret=registration_secret))

    def get_unit(self, unit_id: str) -> Unit:
        return self._run(calls.get_unit(unit_id))

    def heartbeat(self, unit_id: str, *, current_load: int = 0,
                  metadata: dict | None = None) -> Heartbeat:
        return self._run(calls.heartbeat(unit_id, current_load=current_load, metadata=metadata))

    def claim(self, unit_id: str, *, max: int = 1, wait: float = 0.0) -> list[Task]:
        """Up to `max` tasks, started and held by the unit; with `wait`, the server holds the
        request until work comes or `wait` seconds pass (read timeout: wait + a margin)."""
        return self._run(calls.claim(unit_id, max=max, wait=wait))

    def progress(self, task_id: str, progress: int, *, message: str | None = None,
                 estimated_completion: datetime | str | None = None) -> None:
        """Percent done (0-100); `message` goes to the task's log as an info line."""
        self._run(calls.progress(task_id, progress, estimated_completion=estimated_completion))
        if message:
            self.log(task_id, [message])

    def log(self, task_id: str, lines: list[str | tuple[str, str]]) -> None:
        """Append lines to the task's log: a message (info) or (level, message)."""
        self._run(calls.log(task_id, lines))

    def complete(self, task_id: str, result: Any = None) -> Task:
        return self._run(calls.complete(task_id, result))

    def fail(self, task_id: str, error: str, *, retryable: bool = True) -> Task:
        return self._run(calls.fail(task_id, error, retryable=retryable))

    def report_results(self, unit_id: str, results: list[dict]) -> list[Outcome]:
        """Many results at once: {"task_id", "outcome": "completed"|"failed", "result",
        "error", "retryable"} each; one the unit no longer holds answers `conflict`."""
        return self._run(calls.report_results(unit_id, results))

    def give_back(self, unit_id: str, task_ids: list[str], *, reason: str = "") -> list[str]:
        """Tasks the unit holds, back to the queue at once (no failure, no backoff); returns
        those given back (an id it does not hold is left out)."""
        return self._run(calls.give_back(unit_id, task_ids, reason=reason))

    def drain(self, unit_id: str, *, reason: str = "") -> Unit:
        return self._run(calls.drain(unit_id, reason=reason))

    def undrain(self, unit_id: str, *, reason: str = "") -> Unit:
        return self._run(calls.undrain(unit_id, reason=reason))

    def deregister(self, unit_id: str) -> None:
        self._run(calls.deregister(unit_id))
