"""`manage.py run_system`: the whole system in one terminal (web, worker, beat, Redis).

Each part runs as a child process from this virtualenv and is supervised: a child that dies is
restarted after a pause that doubles with each crash in a row (capped), and the supervisor says
so and why. A child that keeps crashing as soon as it starts is given up on, loudly, while the
rest keep running. Only Ctrl-C or SIGTERM stops the whole system.
"""

from __future__ import annotations

import ctypes
import logging
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

from taskmanage import embedded_redis, multiproc
from taskmanage.serving import web_argv

logger = logging.getLogger(__name__)

# Longer than the web server's own graceful shutdown, so requests under way finish.
STOP_GRACE_SECONDS = 10.0 + settings.WEB_GRACEFUL_SHUTDOWN_SECONDS
POLL_SECONDS = 0.2
# Restarts: 1 s, 2 s, 4 s… up to 30 s between tries. A child that ran for STABLE_SECONDS before
# dying starts the count afresh; GIVE_UP_AFTER crashes in a row, each within STABLE_SECONDS of
# starting, is a crash loop (a bad setting, a port in use) that restarting will not fix.
RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 30.0
STABLE_SECONDS = 60.0
GIVE_UP_AFTER = 5
PR_SET_PDEATHSIG = 1
# Shown once the web server answers, if the URLconf serves them.
ENTRY_PATHS = ("/admin/", "/api-docs/", "/health", "/metrics", "/dashboard/")


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = RESTART_FIRST_DELAY
    max_delay: float = RESTART_MAX_DELAY
    stable_after: float = STABLE_SECONDS
    give_up_after: int = GIVE_UP_AFTER

    def delay(self, crashes_in_a_row: int) -> float:
        return min(self.first_delay * 2 ** max(crashes_in_a_row - 1, 0), self.max_delay)


DEFAULT_POLICY = RestartPolicy()


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = field(default=None, repr=False)
    started_at: float = 0.0
    crashes_in_a_row: int = 0
    restart_at: float | None = None  # set while a crashed child waits to start again
    given_up: bool = False

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.restart_at = None
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
    """Runs children until a stop is requested, restarting those that die; then stops all."""

    def __init__(self, children: list[Child], grace: float = STOP_GRACE_SECONDS, *,
                 policy: RestartPolicy | None = None,
                 report: Callable[[str], None] | None = None) -> None:
        self.children = children
        self.grace = grace
        self.policy = policy or DEFAULT_POLICY
        self.report = report or logger.warning
        self.stop_requested = False

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        self.stop_requested = True

    def run(self, on_tick: Callable[[], None] | None = None) -> list[Child]:
        """Start everything and wait for a stop request (or for every child to be given up
        on); returns the children given up on."""
        try:
            for child in self.children:
                child.start()
            self._wait(on_tick)
        finally:
            self.stop_all()
        return [c for c in self.children if c.given_up]

    def _wait(self, on_tick: Callable[[], None] | None) -> None:
        while not self.stop_requested:
            for child in self.children:
                self._look_after(child, time.monotonic())
            if all(c.given_up for c in self.children):
                return
            if on_tick is not None:
                on_tick()
            time.sleep(POLL_SECONDS)

    def _look_after(self, child: Child, now: float) -> None:
        if child.given_up:
            return
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.start()
                self.report(f"{child.name} restarted (pid {child.process.pid})")
            return
        code = child.exit_code()
        if code is not None:
            self._crashed(child, code, ran=now - child.started_at)

    def _crashed(self, child: Child, code: int, *, ran: float) -> None:
        # Its own children (Celery's pool) must not outlive it, nor overlap its successor.
        _signal_child(child, signal.SIGKILL, group=True)
        quick = ran < self.policy.stable_after
        child.crashes_in_a_row = child.crashes_in_a_row + 1 if quick else 1
        what = f"{child.name} {describe_exit(code)} after {ran:.1f} s"
        if quick and child.crashes_in_a_row >= self.policy.give_up_after:
            child.given_up = True
            self.report(
                f"{what}: giving up on it, it crashed {child.crashes_in_a_row} times in a row "
                f"within {self.policy.stable_after:g} s of starting. The rest keep running; "
                "fix the cause and restart the system."
            )
            return
        delay = self.policy.delay(child.crashes_in_a_row)
        child.restart_at = time.monotonic() + delay
        self.report(f"{what}; restarting it in {delay:g} s")

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


def describe_exit(code: int) -> str:
    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:  # a real-time signal has no name
        return f"was killed by signal {-code}"


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
            web_argv(host=host, port=port, workers=settings.WEB_WORKERS,
                     graceful_seconds=settings.WEB_GRACEFUL_SHUTDOWN_SECONDS, python=python),
        ),
        Child(
            "worker",
            [python, "-m", "celery", "-A", "taskmanage", "worker", "-l", "info",
             "-Q", "critical,default,low", "--concurrency", "2"],
        ),
        Child(
            "beat",
            [python, "-m", "celery", "-A", "taskmanage", "beat", "-l", "info",
             "--scheduler", settings.CELERY_BEAT_SCHEDULER],
        ),
        # The reference execution unit, so the demo's unit work (document_processing: the
        # knowledge base's documents, read, chunked, embedded and stored) moves.
        Child(
            "unit",
            [python, "manage.py", "run_unit", "--id", "demo-worker-1",
             "--type", "document_processing", "--capacity", "2",
             "--url", f"http://{_local(host)}:{port}"],
        ),
    ]  # fmt: skip


def _restore_environ(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _local(host: str) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"[{shown}]" if ":" in shown else shown


def entry_urls(host: str, port: int) -> list[str]:
    return [f"http://{_local(host)}:{port}{path}" for path in ENTRY_PATHS if _served(path)]


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
    help = ("Start web (HTTP and WebSockets), Celery worker and beat and the reference "
            "execution unit, plus Redis when REDIS_URL is unset.")

    def handle(self, *args, **options) -> None:
        host = os.environ.get("HOST", "127.0.0.1")
        port = settings.PORT
        shared_before = os.environ.get(multiproc.ENV)
        self._share_metrics_directory()
        started_redis = self._ensure_redis()
        try:
            supervisor = self._supervise(host, port)
        finally:
            if started_redis:
                embedded_redis.stop()
                self.stdout.write("Embedded Redis stopped.")
            _restore_environ(multiproc.ENV, shared_before)  # called in-process (tests)
        given_up = ", ".join(c.name for c in supervisor.children if c.given_up)
        if not supervisor.stop_requested:  # nothing left running: every child crash-looped
            raise CommandError(f"gave up on every process ({given_up}): each kept crashing")
        self.stdout.write("All processes stopped."
                          + (f" Gave up earlier on: {given_up}." if given_up else ""))

    def _share_metrics_directory(self) -> None:
        # Every child (web workers, Celery worker and pool, beat) writes its samples there, so
        # the web's /metrics adds up transitions made anywhere (taskmanage/multiproc.py). All
        # of them start now, so whatever the directory holds is of processes that are gone.
        directory = os.environ.get(multiproc.ENV) or str(settings.VAR_DIR / "prometheus")
        multiproc.reset_directory(directory)
        os.environ[multiproc.ENV] = directory

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

    def _supervise(self, host: str, port: int) -> Supervisor:
        supervisor = Supervisor(build_children(host, port), report=self._report)
        previous = {
            sig: signal.signal(sig, supervisor.request_stop)
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        announce = self._announcer(host, port)
        try:
            supervisor.run(on_tick=announce)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return supervisor

    def _report(self, message: str) -> None:
        self.stderr.write(self.style.WARNING(message))

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
