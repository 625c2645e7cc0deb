"""Prometheus samples from every process of a host in one directory, so /metrics sees them all.

A transition made by a Celery worker increments a counter in the worker's memory; the web
process that serves /metrics would never see it. With PROMETHEUS_MULTIPROC_DIR set, every
process (web workers, Celery worker and its pool, beat) writes its samples to a file of its
own in that directory, and /metrics merges the files (apps.ops.metrics).

A file is named after its process. docker-compose shares the directory between containers,
whose PID namespaces overlap (web's pid 7 and the worker's pid 7), so the name is the host
name and the pid, never the pid alone. prometheus_client splits file names on "_", so the
identifier has none.

This must run before any metric is created: taskmanage/__init__.py calls `configure()`,
and every process (settings, uvicorn, Celery) imports that package first.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
from pathlib import Path

from prometheus_client import multiprocess, values

ENV = "PROMETHEUS_MULTIPROC_DIR"
# Gauge files prometheus_client drops when their process is gone (mark_process_dead).
LIVE_GAUGE_MODES = ("liveall", "livesum", "livemax", "livemin", "livemostrecent")
_HOST = socket.gethostname().replace("_", "-") or "host"


def process_identifier() -> str:
    return f"{_HOST}-{os.getpid()}"


def configure() -> None:
    """Name this process's files (see above) and forget this host's dead processes."""
    directory = os.environ.get(ENV)
    if not directory:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    values.ValueClass = values.MultiProcessValue(process_identifier=process_identifier)
    forget_dead_processes(directory)
    atexit.register(mark_this_process_dead)


def mark_this_process_dead() -> None:
    """Drop this process's live gauges (its counters stay: totals must not go backwards)."""
    directory = os.environ.get(ENV)
    if directory:
        multiprocess.mark_process_dead(process_identifier(), directory)


def forget_dead_processes(directory: str) -> list[str]:
    """Remove the live-gauge files of this host's processes that no longer run.

    A process killed by SIGKILL never ran its atexit; its live gauges would count it
    forever. Only this host's files are judged: another container's pid means nothing here.
    Counters and histograms of dead processes are kept, so a total never decreases.
    """
    removed = []
    for mode in LIVE_GAUGE_MODES:
        for path in glob.glob(os.path.join(directory, f"gauge_{mode}_{_HOST}-*.db")):
            pid = path.rsplit("-", 1)[1][: -len(".db")]
            if pid.isdigit() and not _running(int(pid)):
                os.remove(path)
                removed.append(path)
    return removed


def reset_directory(directory: str | Path) -> None:
    """Empty the directory before a whole system starts: every file in it is of a process
    that is gone (run_system starts every process of the host)."""
    shutil.rmtree(directory, ignore_errors=True)
    Path(directory).mkdir(parents=True, exist_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
