"""The embedded Redis that `make run` and `make test` use when no REDIS_URL is given."""

from __future__ import annotations

import os
import shutil
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
