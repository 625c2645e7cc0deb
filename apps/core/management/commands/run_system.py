"""`manage.py run_system`: the whole system in one terminal (web, worker, beat, Redis).

Each part runs as a child process from this virtualenv and is supervised: Ctrl-C or SIGTERM
stops them all, and if one dies the others are stopped too, so nobody keeps using a
half-running system without noticing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import Resolver404, resolve

from taskmanage import embedded_redis

STOP_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1
# Shown once the web server answers, if the URLconf serves them.
ENTRY_PATHS = ("/admin/", "/api-docs/", "/health", "/metrics", "/dashboard/")


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv,
            cwd=settings.BASE_DIR,
            stdin=subprocess.DEVNULL,
            # Own process group: a terminal Ctrl-C reaches only the supervisor, which then
            # stops the children in order instead of all of them racing to exit.
            process_group=0,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()


def _die_with_parent() -> None:
    # If the supervisor itself is killed (SIGKILL, OOM) it cannot stop its children; the
    # kernel then sends them SIGTERM so no orphan keeps the port or consumes the queues.
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Runs children until one exits or a stop is requested, then stops the rest."""

    def __init__(self, children: list[Child], grace: float = STOP_GRACE_SECONDS) -> None:
        self.children = children
        self.grace = grace
        self.stop_requested = False

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        self.stop_requested = True

    def run(self, on_tick: Callable[[], None] | None = None) -> Child | None:
        """Start everything and wait; returns the child that died on its own, if any."""
        try:
            for child in self.children:
                child.start()
            return self._wait(on_tick)
        finally:
            self.stop_all()

    def _wait(self, on_tick: Callable[[], None] | None) -> Child | None:
        while not self.stop_requested:
            for child in self.children:
                if child.exit_code() is not None:
                    return child
            if on_tick is not None:
                on_tick()
            time.sleep(POLL_SECONDS)
        return None

    def stop_all(self) -> None:
        running = [c for c in self.children if c.exit_code() is None and c.process]
        for child in running:
            _signal_child(child, signal.SIGTERM, group=False)
        deadline = time.monotonic() + self.grace
        for child in running:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_child(child, signal.SIGKILL, group=True)
                child.process.wait()
        for child in self.children:
            # Grandchildren (Celery's pool) of a child that exited must not outlive it.
            if child.process:
                _signal_child(child, signal.SIGKILL, group=True)


def _signal_child(child: Child, signum: int, *, group: bool) -> None:
    # SIGTERM goes to the leader only: Celery's main process shuts its own pool down warmly.
    # SIGKILL goes to the whole group, since a killed leader can no longer stop its pool.
    try:
        if group:
            os.killpg(child.process.pid, signum)
        else:
            child.process.send_signal(signum)
    except (ProcessLookupError, PermissionError):
        pass


def build_children(host: str, port: int) -> list[Child]:
    python = sys.executable  # the same virtualenv that runs this command
    return [
        Child(
            "web",
            [python, "-m", "uvicorn", "taskmanage.asgi:application", "--host", host,
             "--port", str(port), "--lifespan", "off", "--timeout-graceful-shutdown", "5"],
        ),
        Child(
            "worker",
            [python, "-m", "celery", "-A", "taskmanage", "worker", "-l", "info",
             "-Q", "critical,default,low", "--concurrency", "2"],
        ),
        Child(
            "beat",
            [python, "-m", "celery", "-A", "taskmanage", "beat", "-l", "info",
             "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"],
        ),
    ]  # fmt: skip


def entry_urls(host: str, port: int) -> list[str]:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return [f"http://{shown}:{port}{path}" for path in ENTRY_PATHS if _served(path)]


def _served(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def port_open(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    try:
        with socket.create_connection((target, port), timeout=0.5):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Start web (uvicorn), Celery worker and beat, plus Redis when REDIS_URL is unset."

    def handle(self, *args, **options) -> None:
        host = os.environ.get("HOST", "127.0.0.1")
        port = settings.PORT
        started_redis = self._ensure_redis()
        try:
            failed = self._supervise(host, port)
        finally:
            if started_redis:
                embedded_redis.stop()
                self.stdout.write("Embedded Redis stopped.")
        if failed is not None:
            raise CommandError(
                f"{failed.name} exited unexpectedly with code {failed.exit_code()}; "
                "stopped the rest"
            )
        self.stdout.write("All processes stopped.")

    def _ensure_redis(self) -> bool:
        # An explicit REDIS_URL means a real server is provided; otherwise use (or start)
        # the private one that settings point at by default.
        if os.environ.get("REDIS_URL"):
            return False
        try:
            started = embedded_redis.start()
        except embedded_redis.EmbeddedRedisError as exc:
            raise CommandError(str(exc)) from exc
        verb = "Started" if started else "Reusing"
        self.stdout.write(f"{verb} embedded Redis at {embedded_redis.paths().url}")
        return started

    def _supervise(self, host: str, port: int) -> Child | None:
        supervisor = Supervisor(build_children(host, port))
        previous = {
            sig: signal.signal(sig, supervisor.request_stop)
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        announce = self._announcer(host, port)
        try:
            return supervisor.run(on_tick=announce)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _announcer(self, host: str, port: int) -> Callable[[], None]:
        urls = entry_urls(host, port)
        done = False

        def announce() -> None:
            nonlocal done
            if done or not port_open(host, port):
                return
            done = True
            lines = "\n".join(f"  {url}" for url in urls)
            self.stdout.write(self.style.SUCCESS(f"TaskManage is up:\n{lines}\nCtrl-C stops it."))

        return announce
