"""Messages for Redis, sent off the request thread: a request never waits on Redis after commit.

PostgreSQL decides what is pending and the sweeps re-drive it, so a message (a Celery dispatch,
a live-page event) only makes things happen sooner. A request puts it in a bounded in-process
queue and moves on, its database connection free; one daemon thread per process sends the
queue in order. When Redis hangs, that thread waits out the clients' short timeouts
(settings.REDIS_*_TIMEOUT), not the request; a message that fails, or finds the queue full, is
logged and counted (`taskmanage_outbox_dropped_total`) and its work is delivered by a sweep.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from prometheus_client import Counter

logger = logging.getLogger(__name__)

DROPPED = Counter(
    "taskmanage_outbox_dropped_total",
    "Messages for Redis not sent (queue full or Redis failing); sweeps re-drive their work",
    ["outbox", "why"],
)
MAXSIZE = 10_000
# How long a process that exits waits for its last messages (a command like demo_data).
EXIT_FLUSH_SECONDS = 3.0


class Outbox:
    """A bounded queue and the one thread that sends it, `batch` items per `send` call."""

    def __init__(self, name: str, send: Callable[[list[Any]], None], *, batch: int = 1,
                 maxsize: int = MAXSIZE) -> None:
        self.name, self._send, self._batch, self._maxsize = name, send, batch, maxsize
        self._reset()
        # A forked child (Celery's pool) gets a fresh queue and starts its own thread: the
        # parent's thread does not exist there, and a lock it held would never be released.
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self.flush, EXIT_FLUSH_SECONDS)

    def _reset(self) -> None:
        self._queue: queue.Queue = queue.Queue(self._maxsize)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, item: Any) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            DROPPED.labels(self.name, "full").inc()
            logger.warning("%s outbox full (%d): message dropped", self.name, self._maxsize)
            return
        self._ensure_thread()

    def flush(self, timeout: float) -> bool:
        """Wait until everything put so far was sent (or dropped); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=f"outbox-{self.name}",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._send(batch)
            except Exception as exc:  # Redis down or slow: count, log, keep the thread alive
                DROPPED.labels(self.name, "failed").inc(len(batch))
                logger.warning("%s outbox: %d message(s) not sent: %s", self.name, len(batch),
                               exc)
            finally:
                for _ in batch:
                    self._queue.task_done()


def _call_each(calls: list[Callable[[], Any]]) -> None:
    for call in calls:
        call()


celery_messages = Outbox("celery", _call_each)


def send_task(task, *args: Any) -> None:
    """`task.delay(*args)`, from the outbox thread: for messages sent after a commit."""
    celery_messages.put(partial(task.delay, *args))
