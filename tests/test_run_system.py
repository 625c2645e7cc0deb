"""`manage.py run_system`: supervision of web, worker and beat (with stand-in processes)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.core.management.commands import run_system
from apps.core.management.commands.run_system import Child, Supervisor
from taskmanage import embedded_redis

REPO_DIR = Path(__file__).resolve().parent.parent


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


SLEEPER = py("import time; time.sleep(60)")
CRASHER = py("import sys, time; time.sleep(0.3); sys.exit(3)")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for_file(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)
    return path.read_text()


def test_a_child_that_dies_stops_the_others_and_is_named() -> None:
    sleeper, crasher = Child("sleeper", SLEEPER), Child("crasher", CRASHER)

    failed = Supervisor([sleeper, crasher], grace=5).run()

    assert failed is crasher
    assert crasher.exit_code() == 3
    assert sleeper.exit_code() == -signal.SIGTERM


def test_a_stop_request_terminates_every_child() -> None:
    children = [Child("a", SLEEPER), Child("b", SLEEPER)]
    supervisor = Supervisor(children, grace=5)
    threading.Timer(0.5, supervisor.request_stop).start()

    assert supervisor.run() is None
    assert [c.exit_code() for c in children] == [-signal.SIGTERM, -signal.SIGTERM]


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    stubborn = Child(
        "stubborn",
        py(
            "import signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            f"pathlib.Path({str(ready)!r}).write_text('1'); time.sleep(60)"
        ),
    )
    supervisor = Supervisor([stubborn], grace=1)

    def stop_when_ready() -> None:
        wait_for_file(ready)
        supervisor.request_stop()

    threading.Thread(target=stop_when_ready, daemon=True).start()
    started = time.monotonic()
    supervisor.run()

    assert stubborn.exit_code() == -signal.SIGKILL
    assert time.monotonic() - started < 10


def test_grandchildren_do_not_outlive_a_child_that_died(tmp_path: Path) -> None:
    # Like Celery's pool processes when the worker's main process crashes.
    pidfile = tmp_path / "grandchild.pid"
    parent = Child(
        "parent",
        py(
            "import subprocess, sys, pathlib, time; "
            "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            f"pathlib.Path({str(pidfile)!r}).write_text(str(g.pid)); time.sleep(0.5); sys.exit(1)"
        ),
    )

    failed = Supervisor([parent], grace=5).run()

    assert failed is parent
    grandchild = int(wait_for_file(pidfile))
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild)


def test_children_die_with_a_supervisor_killed_outright(tmp_path: Path) -> None:
    # SIGKILL leaves the supervisor no chance to stop anyone; the kernel must do it.
    pidfile = tmp_path / "child.pid"
    child_code = (
        f"import os, pathlib, time; pathlib.Path({str(pidfile)!r}).write_text(str(os.getpid()));"
        " time.sleep(60)"
    )
    script = (
        "import sys\n"
        "from apps.core.management.commands.run_system import Child, Supervisor\n"
        f"Supervisor([Child('sleeper', [sys.executable, '-c', {child_code!r}])]).run()\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "taskmanage.settings", "DEBUG": "1"}
    supervisor = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_DIR, env=env)
    try:
        child = int(wait_for_file(pidfile))
    finally:
        supervisor.kill()
        supervisor.wait()

    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def test_children_are_web_worker_and_beat_from_this_interpreter() -> None:
    children = {c.name: c.argv for c in run_system.build_children("127.0.0.1", 8123)}

    assert set(children) == {"web", "worker", "beat"}
    assert all(argv[0] == sys.executable for argv in children.values())
    web = children["web"]
    assert web[1:4] == ["-m", "uvicorn", "taskmanage.asgi:application"]
    assert web[web.index("--port") + 1] == "8123"
    assert web[web.index("--host") + 1] == "127.0.0.1"
    assert children["worker"][children["worker"].index("-Q") + 1] == "critical,default,low"
    assert "django_celery_beat.schedulers:DatabaseScheduler" in children["beat"]


def test_entry_urls_list_only_paths_the_urlconf_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_system, "ENTRY_PATHS", ("/admin/", "/surely-not-served/"))

    assert run_system.entry_urls("0.0.0.0", 8000) == ["http://127.0.0.1:8000/admin/"]


@pytest.fixture
def fake_children(monkeypatch: pytest.MonkeyPatch) -> list[Child]:
    children: list[Child] = []

    def build(host: str, port: int) -> list[Child]:
        return children

    monkeypatch.setattr(run_system, "build_children", build)
    return children


@pytest.fixture
def short_var_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tm"))
    monkeypatch.setenv("TASKMANAGE_VAR_DIR", str(path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    try:
        yield path
    finally:
        embedded_redis.stop()
        shutil.rmtree(path, ignore_errors=True)


def test_command_fails_naming_the_child_that_died(
    fake_children: list[Child], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # given: no embedded Redis
    fake_children += [Child("sleeper", SLEEPER), Child("crasher", CRASHER)]

    with pytest.raises(CommandError, match="crasher exited unexpectedly with code 3"):
        call_command("run_system", stdout=StringIO())

    assert fake_children[0].exit_code() == -signal.SIGTERM


def test_sigint_stops_the_command_cleanly(
    fake_children: list[Child], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    fake_children += [Child("a", SLEEPER), Child("b", SLEEPER)]
    # Delivered to this process, as a terminal's Ctrl-C is; the command's handler catches it.
    handler_before = signal.getsignal(signal.SIGINT)
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
    out = StringIO()

    call_command("run_system", stdout=out)

    assert "All processes stopped." in out.getvalue()
    assert [c.exit_code() for c in fake_children] == [-signal.SIGTERM, -signal.SIGTERM]
    assert signal.getsignal(signal.SIGINT) is handler_before


def test_command_starts_embedded_redis_and_stops_what_it_started(
    fake_children: list[Child], short_var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_children += [Child("sleeper", SLEEPER), Child("crasher", CRASHER)]
    redis_up_at_child_start: list[bool] = []
    original_start = Child.start

    def start_and_probe(child: Child) -> None:
        redis_up_at_child_start.append(embedded_redis.ping(embedded_redis.paths().socket))
        original_start(child)

    monkeypatch.setattr(Child, "start", start_and_probe)
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("run_system", stdout=out)

    assert "Started embedded Redis" in out.getvalue()
    assert redis_up_at_child_start == [True, True]
    assert not embedded_redis.ping(embedded_redis.paths().socket)


def test_command_leaves_a_redis_it_did_not_start_running(
    fake_children: list[Child], short_var_dir: Path
) -> None:
    embedded_redis.start()
    fake_children.append(Child("crasher", CRASHER))
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("run_system", stdout=out)

    assert "Reusing embedded Redis" in out.getvalue()
    assert embedded_redis.ping(embedded_redis.paths().socket)
