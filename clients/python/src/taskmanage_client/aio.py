"""The asynchronous client: the same calls as Client, awaited (`async with AsyncClient(...)`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
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


class AsyncClient(BaseClient):
    """Client's twin for asyncio: same arguments, same methods, same retries and errors;
    `list_tasks` is an async iterator."""

    def _open(self, transport: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=self._timeout,
                                 transport=transport, headers={"User-Agent": self.user_agent})

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run(self, call: Call, **extra: Any) -> Any:
        attempt = 0
        ran = False  # whether an earlier attempt may have done the work (its answer lost)
        while True:
            try:
                response = await self._http.request(**self._request_args(call, extra))
            except httpx.TransportError as exc:
                if not self._policy.retry_exception(call, exc, attempt):
                    raise transport_error(call, exc, attempt + 1) from exc
                ran = ran or may_have_run(exc)
                await asyncio.sleep(self._policy.delay(attempt))
                attempt += 1
                continue
            if response.is_success:
                return call.parse(response)
            if settled_by_retry(call, response, earlier_may_have_run=ran):
                return await self._run(call.recover()) if call.recover else None
            if not self._policy.retry_response(call, response, attempt):
                raise error_for(response)
            ran = ran or may_have_run(response)
            await asyncio.sleep(self._policy.delay(attempt, retry_after(response)))
            attempt += 1

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        safe = kwargs.pop("safe", None)
        return await self._run(Call(method.upper(), path, safe=safe), **kwargs)

    # --- service side -------------------------------------------------------------------------
    async def login(self, username: str, password: str) -> str:
        self.token = await self._run(calls.login(username, password))
        return self.token

    async def create_task(self, *, title: str, task_type: str, priority: str | None = None,
                          payload: dict | None = None, reference: str | None = None,
                          labels: list[str] | None = None,
                          run_at: datetime | str | None = None,
                          due_at: datetime | str | None = None,
                          depends_on: list[str] | None = None, shard_count: int | None = None,
                          draft: bool = False, idempotency_key: str | None = None) -> Task:
        return await self._run(calls.create_task(
            title=title, task_type=task_type, priority=priority, payload=payload,
            reference=reference, labels=labels, run_at=run_at, due_at=due_at,
            depends_on=depends_on, shard_count=shard_count, draft=draft,
            idempotency_key=idempotency_key))

    async def create_tasks(self, items: list[dict]) -> list[Task]:
        ids = await self._run(calls.create_tasks(items))
        return list(await asyncio.gather(*(self.get_task(task_id) for task_id in ids)))

    async def get_task(self, task_id: str) -> Task:
        return await self._run(calls.get_task(task_id))

    async def list_tasks(self, *, status: str | list[str] | None = None,
                         task_type: str | None = None, priority: str | None = None,
                         reference: str | None = None, parent: str | None = None,
                         page_size: int = 100) -> AsyncIterator[Task]:
        page = 1
        while True:
            tasks, more = await self._run(calls.list_tasks(
                page=page, page_size=page_size, status=status, task_type=task_type,
                priority=priority, reference=reference, parent=parent))
            for task in tasks:
                yield task
            if not more:
                return
            page += 1

    async def wait_for(self, task_id: str, *, timeout: float = 60.0,
                       poll: float = 0.5) -> Task:
        deadline = time.monotonic() + timeout
        while True:
            task = await self.get_task(task_id)
            left = deadline - time.monotonic()
            if task.is_terminal:
                return task
            if left <= 0:
                raise WaitTimeout(f"task {task_id} still {task.status} after {timeout}s",
                                  task=task)
            await asyncio.sleep(min(poll, left))

    async def cancel(self, task_id: str, *, reason: str = "") -> Task:
        return await self._run(calls.cancel(task_id, reason=reason))

    async def retry(self, task_id: str) -> Task:
        return await self._run(calls.retry(task_id))

    async def logs(self, task_id: str, *, attempt: int | None = None) -> list[LogLine]:
        lines: list[LogLine] = []
        page = 1
        while True:
            batch, more = await self._run(calls.logs(task_id, page=page, attempt=attempt))
            lines += batch
            if not more:
                return lines
            page += 1

    # --- unit side ----------------------------------------------------------------------------
    async def register_unit(self, *, unit_id: str, unit_type: str, name: str | None = None,
                            capacity: int = 1, endpoint: str | None = None,
                            labels: list[str] | None = None,
                            heartbeat_timeout: int | None = None,
                            registration_secret: str | None = None) -> Registration:
        return await self._run(calls.register_unit(
            unit_id=unit_id, unit_type=unit_type, name=name, capacity=capacity,
            endpoint=endpoint, labels=labels, heartbeat_timeout=heartbeat_timeout,
            registration_secret=registration_secret))

    async def get_unit(self, unit_id: str) -> Unit:
        return await self._run(calls.get_unit(unit_id))

    async def heartbeat(self, unit_id: str, *, current_load: int = 0,
                        metadata: dict | None = None) -> Heartbeat:
        return await self._run(calls.heartbeat(unit_id, current_load=current_load,
                                               metadata=metadata))

    async def claim(self, unit_id: str, *, max: int = 1, wait: float = 0.0) -> list[Task]:
        return await self._run(calls.claim(unit_id, max=max, wait=wait))

    async def progress(self, task_id: str, progress: int, *, message: str | None = None,
                       estimated_completion: datetime | str | None = None) -> None:
        await self._run(calls.progress(task_id, progress,
                                       estimated_completion=estimated_completion))
        if message:
            await self.log(task_id, [message])

    async def log(self, task_id: str, lines: list[str | tuple[str, str]]) -> None:
        await self._run(calls.log(task_id, lines))

    async def complete(self, task_id: str, result: Any = None) -> Task:
        return await self._run(calls.complete(task_id, result))

    async def fail(self, task_id: str, error: str, *, retryable: bool = True) -> Task:
        return await self._run(calls.fail(task_id, error, retryable=retryable))

    async def report_results(self, unit_id: str, results: list[dict]) -> list[Outcome]:
        return await self._run(calls.report_results(unit_id, results))

    async def give_back(self, unit_id: str, task_ids: list[str], *,
                        reason: str = "") -> list[str]:
        return await self._run(calls.give_back(unit_id, task_ids, reason=reason))

    async def drain(self, unit_id: str, *, reason: str = "") -> Unit:
        return await self._run(calls.drain(unit_id, reason=reason))

    async def undrain(self, unit_id: str, *, reason: str = "") -> Unit:
        return await self._run(calls.undrain(unit_id, reason=reason))

    async def deregister(self, unit_id: str) -> None:
        await self._run(calls.deregister(unit_id))
