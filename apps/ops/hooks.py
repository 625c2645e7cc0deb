"""The ops app's hooks, registered in AppConfig.ready."""

from __future__ import annotations

from celery.signals import worker_process_shutdown

from apps.core.events import subscribe
from taskmanage.multiproc import mark_this_process_dead

from . import subscribers


def register() -> None:
    # Every event, after commit, to the live stream (through the outbox thread).
    subscribe("*")(subscribers.broadcast_to_live_pages)
    # A Celery pool process may leave by os._exit, past atexit: its live gauges go here.
    worker_process_shutdown.connect(_forget_pool_process, dispatch_uid="ops.forget_pool_process")


def _forget_pool_process(**kwargs) -> None:
    mark_this_process_dead()
