"""The reference unit: registers, heartbeats, claims work and runs handlers on it.

Threads: one claims (a long-poll whenever a slot is free), one heartbeats (load, machine
metrics; the answer's cancel flags reach the jobs), one sends progress and log lines in
batches, and one per running job (at most `capacity`). The job threads are daemons, so a
handler that never returns cannot keep the process from exiting after its grace period.

The server stays the judge of who holds what: a report it answers with 409 means the task was
taken back (cancelled, lease expired, unit thought offline) and is dropped, never retried.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..client import Client
from ..errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    TaskManageError,
    ValidationError,
)
from .handlers import (
    Fatal,
    HandlerFunc,
    Job,
    Registry,
    UnitSettings,
    logger,
    run_handler,
)
from .handlers import (
    handlers as default_handlers,
)

UNIT_TOKEN_PREFIX = "tmu_"
MAX_LOG_LINES = 1000  # the API's largest batch
MAX_RESULTS = 100  # results reported in one request at most
LOST = (Conflict, NotFound)  # the task is no longer this unit's


def is_transient(exc: BaseException) -> bool:
    """Worth trying again later: no answer, a 5xx or a 429 (the client already retried)."""
    if not isinstance(exc, TaskManageError):
        return False
    return exc.status is None or exc.status >= 500 or exc.status == 429


def machine_metrics() -> dict[str, Any]:
    """`cpu` (percent used) and `free_memory_mb`, as health-based routing reads them."""
    try:
        import psutil  # optional: more exact when installed

        return {"cpu": round(psutil.cpu_percent(None), 1),
                "free_memory_mb": int(psutil.virtual_memory().available / 2**20)}
    except ImportError:
        pass
    metrics: dict[str, Any] = {}
    with contextlib.suppress(OSError, AttributeError):
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
        metrics["cpu"] = round(min(100.0, 100 * load), 1)
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                metrics["free_memory_mb"] = int(line.split()[1]) // 1024
    return metrics


class Batcher:
    """Progress and log lines, gathered per task and sent every `every` seconds: a handler
    that reports in a tight loop costs the server at most one progress call per period."""

    def __init__(self, client: Client, *, every: float,
                 on_lost: Callable[[str], None]) -> None:
        self.client, self.every, self.on_lost = client, every, on_lost
        self._lock = threading.Lock()
        # One flush at a time (the periodic one, a job's last before its result), so a
        # task's log lines reach the server in the order they were written.
        self._sending = threading.Lock()
        self._progress: dict[str, tuple[float, datetime | None]] = {}
        self._lines: dict[str, list[tuple[str, str]]] = {}

    def progress(self, task_id: str, pct: float, message: str | None,
                 eta: datetime | None = None) -> None:
        if message:  # the API keeps a progress message as a log line
            self.log(task_id, message, "info")
        with self._lock:
            self._progress[task_id] = (pct, eta)

    def log(self, task_id: str, message: str, level: str) -> None:
        with self._lock:
            lines = self._lines.setdefault(task_id, [])
            if len(lines) < MAX_LOG_LINES:  # a handler flooding its log loses the excess
                lines.append((level, message[:10000]))

    def forget(self, task_id: str) -> None:
        with self._lock:
            self._progress.pop(task_id, None)
            self._lines.pop(task_id, None)

    def flush(self, task_id: str | None = None) -> None:
        with self._sending:
            with self._lock:
                ids = [task_id] if task_id else list({*self._progress, *self._lines})
                work = [(i, self._lines.pop(i, None), self._progress.pop(i, None))
                        for i in ids]
            self._send(work)

    def _send(self, work: list) -> None:
        for tid, lines, progress in work:
            try:
                if lines:
                    self.client.log(tid, lines)
                if progress is not None:
                    self.client.progress(tid, int(progress[0]),
                                         estimated_completion=progress[1])
            except LOST:
                self.on_lost(tid)
            except TaskManageError as exc:  # the next period sends newer figures
                logger.warning("progress/logs of %s not sent: %s", tid, exc)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.every):
            self.flush()
        self.flush()


@dataclass
class Running:
    job: Job
    handler_name: str
    settled: bool = False  # a result, a give-back or a drop: nothing more is reported


class UnitRunner:
    def __init__(self, client: Client, *, unit_id: str, unit_type: str, capacity: int = 1,
                 handlers: Registry | None = None, handler_for: dict[str, str] | None = None,
                 settings: UnitSettings | None = None, heartbeat_every: float = 5.0,
                 claim_wait: float = 10.0, grace: float = 30.0, progress_every: float = 0.5,
                 report_for: float = 120.0, max_backoff: float = 30.0,
                 gather: float = 0.02) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.client, self.unit_id, self.unit_type = client, unit_id, unit_type
        self.capacity = capacity
        self.handlers = handlers or default_handlers
        self.handler_for = dict(handler_for or {})
        self.settings = settings or UnitSettings()
        self.heartbeat_every, self.claim_wait, self.grace = heartbeat_every, claim_wait, grace
        self.report_for, self.max_backoff = report_for, max_backoff
        # How long a claim waits for more free slots, and a batch of results for more ends,
        # once it has one: a round trip and a transaction each, shared by many small tasks.
        self.gather = gather
        self._ends: list[tuple[Running, dict]] = []
        self.running: dict[str, Running] = {}
        self._lock = threading.Condition()
        self.stopping = threading.Event()  # no more claims
        self.hurry = threading.Event()  # a second signal: give back now, skip the grace
        self._halt = threading.Event()  # the background threads end
        self.batcher = Batcher(client, every=progress_every, on_lost=self._lost)
        self._threads: list[threading.Thread] = []
        self.done = 0
        self.credential_lost = False

    # --- life cycle --------------------------------------------------------------------------
    def run(self) -> None:
        """Serve until `stop()` (a signal handler calls it), then shut down gracefully."""
        self.start()
        while not self.stopping.wait(0.5):
            pass
        self.shutdown()

    def start(self) -> None:
        self._first_heartbeat()
        for name, target in (("heartbeat", self._heartbeats), ("claims", self._claims),
                             ("reports", lambda: self.batcher.run(self._halt)),
                             ("results", self._results)):
            thread = threading.Thread(target=target, name=f"unit-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        logger.info("%s: serving %s (capacity %d; handlers: %s)", self.unit_id, self.unit_type,
                    self.capacity, ", ".join(self.handlers.names()))

    def stop(self) -> None:
        """Stop claiming and shut down; a second call skips the rest of the grace period."""
        if self.stopping.is_set():
            self.hurry.set()
        self.stopping.set()
        with self._lock:
            self._lock.notify_all()

    def shutdown(self) -> None:
        self.stopping.set()
        deadline = time.monotonic() + self.grace  # for running work, counted from the signal
        logger.info("%s: stopping: no new work, %d running", self.unit_id, len(self.running))
        with contextlib.suppress(TaskManageError):
            self.client.drain(self.unit_id, reason="the unit is shutting down")
        claims = next((t for t in self._threads if t.name == "unit-claims"), None)
        # A claim under way is let to end (what it brings back is given back at once), unless
        # a second signal says not to wait.
        until = time.monotonic() + self.claim_wait + 15
        while claims is not None and claims.is_alive() and not self.hurry.is_set() \
                and time.monotonic() < until:
            claims.join(0.2)
        with self._lock:
            while self.running and not self.hurry.is_set() and time.monotonic() < deadline:
                self._lock.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            left = [r for r in self.running.values() if not r.settled]
        for running in left:
            self._give_back(running, "the unit shut down before it finished")
        self._halt.set()
        for thread in self._threads:
            if thread is not claims:
                thread.join(5)
        logger.info("%s: stopped (%d done, %d given back)", self.unit_id, self.done, len(left))

    # --- heartbeats --------------------------------------------------------------------------
    def _first_heartbeat(self) -> None:
        """The unit is known and live before it claims; a restart undoes its own drain."""
        delay = 0.5
        while not self.stopping.is_set():
            try:
                beat = self._beat()
                break
            except AuthenticationFailed:
                raise
            except TaskManageError as exc:
                logger.warning("%s: server not reachable (%s); trying again in %.0f s",
                               self.unit_id, exc, delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, self.max_backoff)
        else:
            return
        if beat.status == "draining":
            # Left draining by its own last shutdown (or an admin): starting is serving again.
            logger.info("%s: was draining; taking work again", self.unit_id)
            try:
                self.client.undrain(self.unit_id, reason="the unit started")
            except TaskManageError as exc:
                logger.warning("%s: could not undrain (%s); it gets no work until it is",
                               self.unit_id, exc)

    def _beat(self) -> Any:
        metadata = {**machine_metrics(), "running": len(self.running),
                    "handlers": self.handlers.names()[:50]}
        beat = self.client.heartbeat(self.unit_id, current_load=len(self.running),
                                     metadata=metadata)
        for task_id in beat.cancelled:
            running = self.running.get(str(task_id))
            if running is not None:
                logger.info("%s: task %s was cancelled; stopping it", self.unit_id, task_id)
                running.job.cancelled.set()
        return beat

    def _heartbeats(self) -> None:
        failing = False
        while not self._halt.wait(self.heartbeat_every):
            try:
                self._beat()
                if failing:
                    logger.info("%s: heartbeats answered again", self.unit_id)
                failing = False
            except AuthenticationFailed as exc:
                self._credential_lost(exc)
            except TaskManageError as exc:
                if not failing:  # once per outage, not once per beat
                    logger.warning("%s: heartbeat failed (%s); still trying", self.unit_id, exc)
                failing = True

    def _credential_lost(self, exc: TaskManageError) -> None:
        """The token was replaced (the unit registered again elsewhere) or revoked: nothing
        more can be done with it, so the unit stops and says so; a supervisor that starts it
        again (`make run`) registers it anew."""
        if not self.credential_lost:
            logger.error("%s: the server no longer accepts this unit's token (%s); stopping",
                         self.unit_id, exc)
        self.credential_lost = True
        self.stop()

    # --- claims ------------------------------------------------------------------------------
    def _free(self) -> int:
        with self._lock:
            while len(self.running) >= self.capacity and not self.stopping.is_set():
                self._lock.wait(1.0)
            # A slot came free while others run: wait a moment for more, so one claim brings
            # several short tasks rather than one each.
            enough, until = max(1, self.capacity // 2), time.monotonic() + self.gather
            while (self.running and self.capacity - len(self.running) < enough
                   and not self.stopping.is_set() and time.monotonic() < until):
                self._lock.wait(max(0.0, until - time.monotonic()))
            return self.capacity - len(self.running)

    def _claims(self) -> None:
        delay = 0.5
        while not self.stopping.is_set():
            free = self._free()
            if self.stopping.is_set() or free <= 0:
                continue
            try:
                tasks = self.client.claim(self.unit_id, max=free, wait=self.claim_wait)
            except AuthenticationFailed as exc:
                self._credential_lost(exc)
                return
            except TaskManageError as exc:
                logger.warning("%s: claim failed (%s); trying again in %.1f s", self.unit_id,
                               exc, delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, self.max_backoff)
                continue
            delay = 0.5
            for task in tasks:
                self._begin(task)

    def _begin(self, task: Any) -> None:
        name = self.handlers.resolve(task, self.handler_for)
        job = Job(task=task, client=self.client, settings=self.settings, reporter=self.batcher)
        running = Running(job=job, handler_name=name)
        with self._lock:
            self.running[job.id] = running
        if self.stopping.is_set():
            self._give_back(running, "the unit is shutting down")
            return
        func = self.handlers.get(name) or self._missing(name)
        logger.info("%s: task %s %r (%s) → %s", self.unit_id, job.id, task.title, task.task_type,
                    name)
        threading.Thread(target=self._work, args=(running, func), name=f"job-{job.id}",
                         daemon=True).start()

    def _missing(self, name: str) -> HandlerFunc:
        def missing(job: Job) -> Any:
            raise Fatal(f"no handler {name!r} on unit {self.unit_id} "
                        f"(it has: {', '.join(self.handlers.names())})")

        return missing

    # --- results -----------------------------------------------------------------------------
    def _work(self, running: Running, func: HandlerFunc) -> None:
        outcome, value = run_handler(func, running.job)
        if not self._settle(running):
            return  # given back meanwhile
        task_id = running.job.id
        self.batcher.flush(task_id)  # its logs before its result
        if outcome == "completed":
            self._end(running, {"task_id": task_id, "outcome": "completed", "result": value})
        elif outcome == "failed":
            error, retryable = value
            self._end(running, {"task_id": task_id, "outcome": "failed", "error": error,
                                "retryable": retryable})
        else:
            logger.info("%s: task %s cancelled; nothing reported", self.unit_id, task_id)
            self._release(running)

    def _end(self, running: Running, item: dict) -> None:
        """A job's end, for the results thread to report with others (its slot is freed
        once the server has it: until then the server counts the task against the unit)."""
        with self._lock:
            self._ends.append((running, item))
            self._lock.notify_all()

    def _results(self) -> None:
        """Report ends in batches (POST .../results) until the unit halts with none left."""
        while True:
            with self._lock:
                while not self._ends and not self._halt.is_set():
                    self._lock.wait(0.5)
                if not self._ends:
                    return  # halted, everything reported
                # The first end waits `gather` for others (the jobs of one claim end close
                # together); a full batch or a halt goes at once.
                until = time.monotonic() + self.gather
                while (len(self._ends) < MAX_RESULTS and not self._halt.is_set()
                       and time.monotonic() < until):
                    self._lock.wait(max(0.0, until - time.monotonic()))
                batch, self._ends = self._ends[:MAX_RESULTS], self._ends[MAX_RESULTS:]
            try:
                self._report_batch(batch)
            except Exception:  # the only thread that reports: it must outlive any fault
                logger.exception("%s: reporting %d results failed", self.unit_id, len(batch))

    def _report_batch(self, batch: list[tuple[Running, dict]]) -> None:
        items = [item for _, item in batch]
        try:
            outcomes = self._deliver(items)
            if outcomes is None:
                # Refused as a whole (one result too large, say): one by one, so a bad
                # result costs only its own task.
                for item in items:
                    self._report_one(item)
                return
            for outcome in outcomes:
                if outcome.ok:
                    self.done += outcome.status == "completed"
                    logger.info("%s: task %s %s", self.unit_id, outcome.task_id, outcome.status)
                else:  # cancelled or taken back meanwhile: the server keeps what it has
                    logger.warning("%s: task %s was taken back (%s); its result is dropped",
                                   self.unit_id, outcome.task_id, outcome.detail)
        finally:
            for running, _ in batch:
                self._release(running)

    def _deliver(self, items: list[dict]) -> list[Any] | None:
        """The batch's outcomes, trying through a server outage for `report_for` seconds;
        None when the server refuses the batch as a whole (one by one then); [] when it
        cannot be reported at all (the tasks' leases bring them back to the queue: trying
        each alone for as long again would hold every slot for hours)."""
        deadline, delay = time.monotonic() + self.report_for, 0.5
        while True:
            try:
                return self.client.report_results(self.unit_id, items)
            except ValidationError:
                return None
            except TaskManageError as exc:
                if not is_transient(exc) or time.monotonic() + delay > deadline:
                    logger.error("%s: %d results could not be reported: %s", self.unit_id,
                                 len(items), exc)
                    return []
                logger.warning("%s: reporting %d results failed (%s); trying again",
                               self.unit_id, len(items), exc)
                time.sleep(delay)
                delay = min(delay * 2, self.max_backoff)

    def _report_one(self, item: dict) -> None:
        task_id = item["task_id"]
        if item["outcome"] == "completed":
            self._report(task_id, "completed", lambda: self._complete(task_id, item["result"]))
        else:
            self._report(task_id, "failed", lambda: self.client.fail(
                task_id, item["error"], retryable=item["retryable"]))

    def _complete(self, task_id: str, result: Any) -> None:
        try:
            self.client.complete(task_id, result)
        except ValidationError as exc:  # a result the server refuses (too large, not JSON…)
            self.client.fail(task_id, f"result refused: {exc}", retryable=False)

    def _report(self, task_id: str, what: str, call: Callable[[], Any]) -> bool:
        """Report a task's end, trying through a server outage for `report_for` seconds."""
        deadline = time.monotonic() + self.report_for
        delay = 0.5
        while True:
            try:
                call()
                logger.info("%s: task %s %s", self.unit_id, task_id, what)
                self.done += what == "completed"
                return True
            except LOST as exc:
                logger.warning("%s: task %s was taken back (%s); its result is dropped",
                               self.unit_id, task_id, exc)
                return False
            except TaskManageError as exc:
                if not is_transient(exc) or time.monotonic() + delay > deadline:
                    logger.error("%s: task %s could not be reported %s: %s", self.unit_id,
                                 task_id, what, exc)
                    return False
                logger.warning("%s: reporting task %s failed (%s); trying again",
                               self.unit_id, task_id, exc)
                time.sleep(delay)
                delay = min(delay * 2, self.max_backoff)

    def _settle(self, running: Running) -> bool:
        """True for the one caller that may report this job (its end or its give-back)."""
        with self._lock:
            if running.settled:
                return False
            running.settled = True
            return True

    def _release(self, running: Running) -> None:
        self.batcher.forget(running.job.id)
        with self._lock:
            self.running.pop(running.job.id, None)
            self._lock.notify_all()

    def _give_back(self, running: Running, why: str) -> None:
        """Back to the queue at once (POST .../give-back), to be done by a unit that stays:
        no failure is counted and no retry backoff waited for."""
        if not self._settle(running):
            return
        running.job.cancelled.set()  # the handler, if it checks, stops now
        task_id = running.job.id
        self.batcher.flush(task_id)
        try:
            self._report(task_id, "given back",
                         lambda: self.client.give_back(self.unit_id, [task_id], reason=why))
        finally:
            self._release(running)

    def _lost(self, task_id: str) -> None:
        """A progress report was refused: the task is not this unit's any more."""
        running = self.running.get(task_id)
        if running is not None and not running.job.cancelled.is_set():
            logger.info("%s: task %s taken back by the server; stopping it", self.unit_id,
                        task_id)
            running.job.cancelled.set()


# --- connecting ----------------------------------------------------------------------------------
def connect(base_url: str, *, unit_id: str, unit_type: str, capacity: int,
            token: str | None = None, registration_secret: str | None = None,
            token_file: str | None = None, name: str | None = None,
            labels: list[str] | None = None, heartbeat_timeout: int | None = None,
            **client_options: Any) -> Client:
    """A client acting as the unit. A unit token (`tmu_…`) is used as it is; an admin's token
    or the unit type's registration secret registers the unit (again) for a new one, which is
    kept in `token_file` when given, and used from there on the next start."""
    if token and token.startswith(UNIT_TOKEN_PREFIX):
        return Client(base_url, token=token, **client_options)
    kept = Path(token_file) if token_file else None
    if not token and kept is not None and kept.is_file():
        return Client(base_url, token=kept.read_text().strip(), **client_options)
    if not token and not registration_secret:
        raise PermissionDenied("no unit token: give --token (the unit's, or an admin's to "
                               "register it) or --registration-secret")
    with Client(base_url, token=token, **client_options) as registrar:
        done = registrar.register_unit(
            unit_id=unit_id, unit_type=unit_type, name=name, capacity=capacity, labels=labels,
            heartbeat_timeout=heartbeat_timeout, registration_secret=registration_secret)
    if kept is not None:
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.touch(mode=0o600)
        kept.write_text(done.token)
    return Client(base_url, token=done.token, **client_options)
