"""Logging for periodic work: an idle system is quiet, a busy one says what it did.

Beat runs a dozen sweeps every few seconds. Celery logs three INFO lines per run (beat's
"Sending due task", the worker's "received" and "succeeded"), about 160 lines a minute that
say nothing. Sweeps report themselves instead: one INFO line when they moved something,
DEBUG when there was nothing to do; Celery's lines about them are demoted to DEBUG.
"""

from __future__ import annotations

import logging

from django.conf import settings


def report_sweep(logger: logging.Logger, moved: int, message: str) -> int:
    """Log `message` % moved at INFO if the sweep moved anything, else at DEBUG."""
    logger.log(logging.INFO if moved else logging.DEBUG, message, moved)
    return moved


def sweep_task_names() -> frozenset[str]:
    """Beat's sweeps, and the tasks they trigger, which report themselves the same way."""
    periodic = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    return frozenset(periodic | set(settings.CELERY_SELF_REPORTING_TASKS))


class QuietSweeps(logging.Filter):
    """Demotes Celery's INFO lines about sweep tasks to DEBUG (shown only at LOG_LEVEL=DEBUG).

    Attached to the loggers of beat (sending), the worker (received) and the tracer
    (succeeded); failures are WARNING or ERROR and always pass.
    """

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self.sweeps = sweep_task_names()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or _task_name(record) not in self.sweeps:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def _task_name(record: logging.LogRecord) -> str | None:
    # The worker and the tracer log a context dict (also kept as record.data); beat logs
    # (entry name, task name).
    data = getattr(record, "data", None)
    if isinstance(data, dict):
        return data.get("name")
    if isinstance(record.args, tuple) and len(record.args) == 2:
        return str(record.args[1])
    return None
