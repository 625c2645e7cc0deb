"""The embedded Redis that `make run` and `make test` use when no REDIS_URL is given."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from taskmanage import embedded_redis
from taskmanage.embedded_redis import EmbeddedRedisError, Paths

REPO_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def var_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # A short path: a unix socket path must fit in ~104 bytes, which pytest's tmp_path may not.
    path = Path(tempfile.mkdtemp(prefix="tm"))
    monkeypatch.setenv("TASKMANAGE_VAR_DIR", str(path))
    try:
        yield path
    finally:
        embedded_redis.stop(Paths(path / "redis"))
        shutil.rmtree(path, ignore_errors=True)


def client(p: Paths) -> redis.Redis:
    # No retries: a stopped server must fail at once, not after redis-py's backoff.
    return redis.Redis(
        unix_socket_path=str(p.socket), socket_timeout=2, retry=Retry(NoBackoff(), 0)
    )


def process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; it only waits to be reaped


def cli(*args: str, var: Path) -> subprocess.CompletedProcess[str]:
    # No Django settings reachable: the module must work before Django can be configured.
    env = {**os.environ, "TASKMANAGE_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "no.such"}
    env.pop("SECRET_KEY", None)
    env.pop("DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "taskmanage.embedded_redis", *args],
        cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_start_serves_redis_on_a_private_unix_socket_only(var_dir: Path) -> None:
    p = embedded_redis.paths()
    assert p.socket == var_dir / "redis" / "redis.sock"

    assert embedded_redis.start() is True

    conn = client(p)
    assert conn.ping() is True
    assert conn.config_get("port") == {"port": "0"}  # no TCP listener at all
    assert stat.S_IMODE(p.socket.stat().st_mode) == 0o700
    assert conn.config_get("dir")["dir"] == str(p.root)


def test_second_start_reuses_the_running_server(var_dir: Path) -> None:
    p = embedded_redis.paths()
    embedded_redis.start()
    pid = embedded_redis.read_pid(p)
    client(p).set("marker", "first")

    assert embedded_redis.start() is False

    assert embedded_redis.read_pid(p) == pid
    assert client(p).get("marker") == b"first"


def test_stop_really_stops_and_is_a_noop_afterwards(var_dir: Path) -> None:
    p = embedded_redis.paths()
    embedded_redis.start()
    pid = embedded_redis.read_pid(p)
    assert pid is not None and process_alive(pid)

    assert embedded_redis.stop() is True

    assert not process_alive(pid)
    assert not embedded_redis.ping(p.socket)
    with pytest.raises(redis.ConnectionError):
        client(p).ping()
    assert embedded_redis.stop() is False


def test_stop_terminates_a_server_that_no_longer_answers(var_dir: Path) -> None:
    p = embedded_redis.paths()
    embedded_redis.start()
    pid = embedded_redis.read_pid(p)
    p.socket.unlink()  # PING cannot reach it any more; the pidfile still names it

    assert embedded_redis.stop() is True
    assert not process_alive(pid)


def test_cli_runs_without_django_settings(var_dir: Path) -> None:
    url = f"unix://{var_dir}/redis/redis.sock"
    assert cli("url", var=var_dir).stdout.strip() == url
    assert cli("status", var=var_dir).returncode == 3

    started = cli("start", var=var_dir)
    assert started.returncode == 0, started.stderr
    assert cli("status", var=var_dir).returncode == 0
    assert "already running" in cli("start", var=var_dir).stdout

    assert cli("stop", var=var_dir).stdout.strip() == "stopped"
    assert cli("status", var=var_dir).returncode == 3


def test_socket_path_too_long_is_refused_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKMANAGE_VAR_DIR", "/tmp/" + "x" * 120)
    with pytest.raises(EmbeddedRedisError, match="TASKMANAGE_VAR_DIR"):
        embedded_redis.start()


def test_a_server_that_cannot_start_is_reported(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_redis, "redis_executable", lambda: shutil.which("false"))
    with pytest.raises(EmbeddedRedisError, match="exited with 1"):
        embedded_redis.start()


def test_default_socket_is_the_one_settings_point_redis_url_at() -> None:
    # Settings cannot be imported by the module, so both must derive the same path.
    assert embedded_redis.paths().socket == settings.EMBEDDED_REDIS_SOCKET


# --- `run`: a command with the server up, and nothing left behind -----------------------------
WAIT_FOR_FILE = (
    "import os, pathlib, sys, time\n"
    "pathlib.Path(sys.argv[1] + '.started').touch()\n"
    "while not os.path.exists(sys.argv[1]): time.sleep(0.05)"
)


def run_in_background(*command: str, var: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TASKMANAGE_VAR_DIR": str(var)}
    env.pop("REDIS_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "taskmanage.embedded_redis", "run", "--", *command],
        cwd=REPO_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        process_group=0,  # its own group, like a make started from a terminal
    )


def waiting_command(release: Path) -> list[str]:
    """A command that runs until `release` exists (and says it started: `release`.started)."""
    return [sys.executable, "-c", WAIT_FOR_FILE, str(release)]


def wait_until(done, timeout: float = 10.0) -> None:
    embedded_redis._wait_until(done, timeout, lambda: AssertionError("timed out"))


def test_run_gives_the_command_a_server_and_stops_it_afterwards(var_dir: Path) -> None:
    p = embedded_redis.paths()
    probe = (f"import os, redis; r = redis.Redis.from_url(os.environ['REDIS_URL']); "
             f"assert os.environ['REDIS_URL'] == {p.url!r}; r.ping(); raise SystemExit(7)")

    done = run_in_background(sys.executable, "-c", probe, var=var_dir)

    assert done.wait(timeout=30) == 7, done.stderr.read()  # the command's own exit code
    assert not embedded_redis.ping(p.socket)
    assert not p.started_by_run.exists()


def test_run_leaves_a_server_started_by_hand_running(var_dir: Path) -> None:
    assert cli("start", var=var_dir).returncode == 0

    assert run_in_background("true", var=var_dir).wait(timeout=30) == 0

    assert embedded_redis.ping(embedded_redis.paths().socket)


@pytest.mark.parametrize("first_to_end", ["starter", "sharer"])
def test_two_runs_share_one_server_which_stops_when_the_last_ends(
    var_dir: Path, first_to_end: str
) -> None:
    p = embedded_redis.paths()
    releases = {name: var_dir / f"release-{name}" for name in ("starter", "sharer")}
    starter = run_in_background(*waiting_command(releases["starter"]), var=var_dir)
    wait_until(lambda: p.started_by_run.exists())
    pid = embedded_redis.read_pid(p)
    sharer = run_in_background(*waiting_command(releases["sharer"]), var=var_dir)
    last_to_end = "sharer" if first_to_end == "starter" else "starter"
    runs = {"starter": starter, "sharer": sharer}
    wait_until(lambda: _holders(p) == 2)

    releases[first_to_end].touch()
    assert runs[first_to_end].wait(timeout=30) == 0
    assert embedded_redis.ping(p.socket) and embedded_redis.read_pid(p) == pid

    releases[last_to_end].touch()
    assert runs[last_to_end].wait(timeout=30) == 0
    assert not embedded_redis.ping(p.socket)


def _holders(p: Paths) -> int:
    """How many processes hold a lock on the users' lock file (from /proc/locks)."""
    inode = p.users_lock.stat().st_ino
    return sum(1 for line in Path("/proc/locks").read_text().splitlines()
               if line.split()[5].endswith(f":{inode}"))


def test_ctrl_c_stops_the_command_and_then_the_server(var_dir: Path) -> None:
    p = embedded_redis.paths()
    running = run_in_background(*waiting_command(var_dir / "never"), var=var_dir)
    wait_until((var_dir / "never.started").exists)

    os.killpg(running.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole foreground group

    assert running.wait(timeout=30) == 128 + signal.SIGINT  # the command died of it
    assert not embedded_redis.ping(p.socket)


def test_run_with_a_real_server_given_starts_none(var_dir: Path) -> None:
    env = {**os.environ, "TASKMANAGE_VAR_DIR": str(var_dir), "REDIS_URL": "redis://x:1/0"}
    done = subprocess.run(
        [sys.executable, "-m", "taskmanage.embedded_redis", "run", "--", sys.executable, "-c",
         "import os; print(os.environ['REDIS_URL'])"],
        cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip

    assert done.stdout.strip() == "redis://x:1/0"
    assert not (var_dir / "redis" / "redis.pid").exists()
