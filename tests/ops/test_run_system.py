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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.ops.management.commands import run_system
from apps.ops.management.commands.run_system import Child, RestartPolicy, Supervisor
from taskmanage import embedded_redis
from taskmanage.serving import web_argv

REPO_DIR = Path(__file__).resolve().parents[2]


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


SLEEPER = py("import time; time.sleep(60)")
CRASHER = py("import sys, time; time.sleep(0.3); sys.exit(3)")
# Restarts fast enough for a test: 0.1 s, then 0.2 s (the cap); three quick crashes is a loop.
FAST = RestartPolicy(first_delay=0.1, max_delay=0.2, stable_after=5, give_up_after=3)


@pytest.fixture(autouse=True)
def fast_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_system, "DEFAULT_POLICY", FAST)


def crashes_until(pidfile: Path, starts: int, code: int = 3) -> list[str]:
    """A child that records each start's pid and exits with `code` until its `starts`th start,
    which stays up."""
    return py(
        "import os, sys, time, pathlib\n"
        f"p = pathlib.Path({str(pidfile)!r})\n"
        "with p.open('a') as f: f.write(f'{os.getpid()}\\n')\n"
        f"if len(p.read_text().split()) < {starts}: time.sleep(0.2); sys.exit({code})\n"
        "time.sleep(60)\n"
    )


def wait_until(check: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.05)


@contextmanager
def supervising(children: list[Child], policy: RestartPolicy = FAST
                ) -> Iterator[tuple[Supervisor, list[str]]]:
    """The supervisor running in a thread, as the command runs it; stopped on the way out."""
    reports: list[str] = []
    supervisor = Supervisor(children, grace=5, policy=policy, report=reports.append)
    given_up: list[list[Child]] = []
    thread = threading.Thread(target=lambda: given_up.append(supervisor.run()), daemon=True)
    thread.start()
    try:
        yield supervisor, reports
    finally:
        supervisor.request_stop()
        thread.join(timeout=20)
        assert not thread.is_alive(), "supervisor did not stop"


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for_file(path: Path, timeout: float = 30.0) -> str:
    # Generous: it returns as soon as the file is there, and a process that imports Django on
    # a loaded machine (CI running two test workers) has taken more than 10 s to get there.
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)
    return path.read_text()


def test_a_child_that_dies_is_restarted_with_growing_pauses_and_the_others_keep_running(
        tmp_path: Path) -> None:
    pids = tmp_path / "crasher.pids"
    sleeper, crasher = Child("sleeper", SLEEPER), Child("crasher", crashes_until(pids, 3))

    with supervising([sleeper, crasher]) as (supervisor, reports):
        wait_until(lambda: len(lines(pids)) == 3)
        sleeper_pid = sleeper.process.pid
        wait_until(lambda: len(reports) == 4)

    assert len(set(lines(pids))) == 3
    assert reports[0].startswith("crasher exited with code 3 after ")
    assert reports[0].endswith("; restarting it in 0.1 s")
    assert reports[1] == f"crasher restarted (pid {lines(pids)[1]})"
    assert reports[2].endswith("; restarting it in 0.2 s")  # doubled, and at the cap
    assert reports[3] == f"crasher restarted (pid {lines(pids)[2]})"
    assert sleeper.process.pid == sleeper_pid and sleeper.exit_code() == -signal.SIGTERM
    assert crasher.exit_code() == -signal.SIGTERM  # the third start stayed up until the stop


def test_restart_pauses_double_up_to_the_cap() -> None:
    policy = RestartPolicy(first_delay=1, max_delay=30)

    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_child_killed_by_a_signal_is_restarted_and_the_signal_named() -> None:
    victim = Child("worker", SLEEPER)

    with supervising([victim]) as (supervisor, reports):
        wait_until(lambda: victim.process is not None)
        first = victim.process.pid
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: len(reports) == 2)

    assert reports[0].startswith("worker was killed by SIGKILL after ")
    assert reports[1].startswith("worker restarted (pid ")
    assert victim.process.pid != first


def test_a_crash_looping_child_is_given_up_on_and_the_rest_keep_running() -> None:
    sleeper, crasher = Child("sleeper", SLEEPER), Child("crasher", CRASHER)
    loop = RestartPolicy(first_delay=0.05, max_delay=0.05, stable_after=5, give_up_after=3)

    with supervising([sleeper, crasher], loop) as (supervisor, reports):
        wait_until(lambda: crasher.given_up)
        time.sleep(0.5)  # no further restart after giving up
        assert sleeper.exit_code() is None
        assert not supervisor.stop_requested

    assert [r.endswith("restarting it in 0.05 s") for r in reports[::2]] == [True, True, False]
    assert "giving up on it, it crashed 3 times in a row within 5 s of starting" in reports[-1]
    assert len([r for r in reports if "restarted (pid" in r]) == 2


def test_a_child_that_ran_a_while_before_dying_starts_its_count_afresh(tmp_path: Path) -> None:
    flaky = Child("flaky", py("import sys, time; time.sleep(0.4); sys.exit(1)"))
    patient = RestartPolicy(first_delay=0.05, max_delay=1, stable_after=0.3, give_up_after=2)

    with supervising([flaky], patient) as (supervisor, reports):
        wait_until(lambda: len([r for r in reports if "exited" in r]) >= 3)

    assert not flaky.given_up
    assert all(r.endswith("restarting it in 0.05 s") for r in reports if "exited" in r)


def test_the_supervisor_ends_only_when_every_child_crash_loops() -> None:
    crashers = [Child("a", CRASHER), Child("b", CRASHER)]
    loop = RestartPolicy(first_delay=0.05, max_delay=0.05, stable_after=5, give_up_after=2)

    given_up = Supervisor(crashers, grace=5, policy=loop, report=lambda _: None).run()

    assert given_up == crashers


def test_a_stop_request_terminates_every_child() -> None:
    children = [Child("a", SLEEPER), Child("b", SLEEPER)]
    supervisor = Supervisor(children, grace=5)
    threading.Timer(0.5, supervisor.request_stop).start()

    assert supervisor.run() == []
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
    # Like Celery's pool processes when the worker's main process crashes: they go with it,
    # before it is restarted.
    pidfile = tmp_path / "grandchild.pid"
    parent = Child(
        "parent",
        py(
            "import subprocess, sys, pathlib, time\n"
            f"p = pathlib.Path({str(pidfile)!r})\n"
            "if p.exists(): time.sleep(60)\n"
            "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "p.write_text(str(g.pid)); time.sleep(0.5); sys.exit(1)\n"
        ),
    )

    with supervising([parent]) as (supervisor, reports):
        grandchild = int(wait_for_file(pidfile))
        wait_until(lambda: reports)
        wait_until(lambda: not alive(grandchild), timeout=5)


def test_children_die_with_a_supervisor_killed_outright(tmp_path: Path) -> None:
    # SIGKILL leaves the supervisor no chance to stop anyone; the kernel must do it.
    pidfile = tmp_path / "child.pid"
    child_code = (
        f"import os, pathlib, time; pathlib.Path({str(pidfile)!r}).write_text(str(os.getpid()));"
        " time.sleep(60)"
    )
    script = (
        "import sys\n"
        "from apps.ops.management.commands.run_system import Child, Supervisor\n"
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


def test_children_are_web_worker_beat_and_the_reference_unit_from_this_interpreter() -> None:
    children = {c.name: c.argv for c in run_system.build_children("127.0.0.1", 8123)}

    assert set(children) == {"web", "worker", "beat", "unit"}
    assert all(argv[0] == sys.executable for argv in children.values())
    web = children["web"]
    assert web[1:4] == ["-m", "uvicorn", "taskmanage.asgi:application"]
    # The same server as `manage.py serve` (docker-compose) and the bench.
    assert web == web_argv(host="127.0.0.1", port=8123, workers=settings.WEB_WORKERS,
                           graceful_seconds=settings.WEB_GRACEFUL_SHUTDOWN_SECONDS)
    assert "--no-proxy-headers" in web
    assert web[web.index("--port") + 1] == "8123"
    assert web[web.index("--host") + 1] == "127.0.0.1"
    assert children["worker"][children["worker"].index("-Q") + 1] == "critical,default,low"
    assert "apps.schedules.leader:LeaderScheduler" in children["beat"]
    assert children["unit"][1:3] == ["manage.py", "run_unit"]
    assert children["unit"][-1] == "http://127.0.0.1:8123"  # the web child's address


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


def test_command_says_what_it_restarts_and_fails_when_every_child_crash_loops(
    fake_children: list[Child], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # given: no embedded Redis
    fake_children += [Child("crasher", CRASHER)]
    err = StringIO()

    with pytest.raises(CommandError, match=r"gave up on every process \(crasher\)"):
        call_command("run_system", stdout=StringIO(), stderr=err)

    assert "crasher exited with code 3 after" in err.getvalue()
    assert "restarting it in 0.1 s" in err.getvalue()
    assert "crasher restarted (pid" in err.getvalue()
    assert "giving up on it, it crashed 3 times in a row" in err.getvalue()


def test_sigterm_to_the_supervisor_stops_every_child_even_one_waiting_to_restart(
        tmp_path: Path) -> None:
    """The real command in its own process, as `make run` starts it, with stand-in children."""
    pids = tmp_path / "sleeper.pid"
    sleeper = py("import os, pathlib, time; "
                 f"pathlib.Path({str(pids)!r}).write_text(str(os.getpid())); time.sleep(60)")
    script = (
        "import sys\n"
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "from apps.ops.management.commands import run_system as rs\n"
        "rs.DEFAULT_POLICY = rs.RestartPolicy(first_delay=30)\n"
        f"rs.build_children = lambda h, p: [rs.Child('sleeper', {sleeper!r}),"
        f" rs.Child('crasher', {CRASHER!r})]\n"
        "call_command('run_system')\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "taskmanage.settings", "DEBUG": "1",
           "REDIS_URL": "redis://127.0.0.1:1/0"}
    supervisor = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_DIR, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        child = int(wait_for_file(pids))
        time.sleep(2.0)  # the crasher has died and waits 30 s to be restarted
        supervisor.send_signal(signal.SIGTERM)
        out, err = supervisor.communicate(timeout=20)
    finally:
        supervisor.kill()

    assert supervisor.returncode == 0, err
    assert "All processes stopped." in out
    assert "crasher exited with code 3" in err and "restarting it in 30 s" in err
    assert not alive(child)


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
    fake_children += [Child("a", CRASHER), Child("b", CRASHER)]
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
    assert len(redis_up_at_child_start) >= 2 and all(redis_up_at_child_start)
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
