"""The reference unit as a real process (`python -m taskmanage_client.unit`) against a live
server process: it does the work, honours a cancel, outlives a server restart and stops on
SIGTERM with nothing lost. Intervals are short so each test takes seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from taskmanage_client import Client
from taskmanage_client.models import Task

from tests.unit_runner.conftest import REGISTRATION_SECRET, REPO_DIR, Live

HEARTBEAT_EVERY = 0.5


def new_type(admin: Client, **fields) -> str:
    key = f"live_{uuid.uuid4().hex[:8]}"
    admin.request("POST", "/api/v1/task-types", json={
        "key": key, "name": key, "assignee_kind": "unit", "max_retries": 3, **fields})
    return key


@contextmanager
def unit(live: Live, tmp_path: Path, unit_type: str, *args: str, capacity: int = 2,
         credentials: tuple[str, ...] | None = None) -> Iterator[subprocess.Popen]:
    """The unit as a process, its output in tmp_path/unit.log (shown when a test fails)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKMANAGE_")}
    unit_id = f"{unit_type}-worker"
    with open(tmp_path / "unit.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "taskmanage_client.unit", "--id", unit_id,
             "--type", unit_type, "--capacity", str(capacity), "--url", live.url,
             *(credentials or ("--token", live.admin_token)),
             "--heartbeat-every", str(HEARTBEAT_EVERY), "--claim-wait", "2", *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=tmp_path)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


def unit_log(tmp_path: Path) -> str:
    return (tmp_path / "unit.log").read_text()


def wait_until(check: Callable[[], bool], *, seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {seconds} s; unit log:\n"
                         + unit_log(log))


def finished(admin: Client, task: Task, tmp_path: Path, seconds: float = 20) -> Task:
    wait_until(lambda: admin.get_task(task.id).is_terminal, seconds=seconds,
               what=f"task {task.title} ending", log=tmp_path)
    return admin.get_task(task.id)


def running(admin: Client, task: Task, tmp_path: Path) -> None:
    wait_until(lambda: admin.get_task(task.id).status == "running", seconds=20,
               what=f"task {task.title} starting", log=tmp_path)


def test_the_unit_does_noop_and_sleep_tasks_with_progress_and_logs(live, tmp_path):
    admin = live.admin()
    kind = new_type(admin)
    noop = admin.create_task(title="noop", task_type=kind, payload={"handler": "noop"})
    nap = admin.create_task(title="nap", task_type=kind,
                            payload={"handler": "sleep", "seconds": 0.6})

    with unit(live, tmp_path, kind) as process:
        assert finished(admin, noop, tmp_path).result == {"ok": True}
        done = finished(admin, nap, tmp_path)

        assert done.status == "completed" and done.result == {"slept": 0.6}
        assert done.progress == 100 and done.estimated_completion is not None
        assert process.poll() is None
        live.manage("units", "sweep")  # heartbeats reach the unit's row with the sweep
        metrics = admin.get_unit(f"{kind}-worker").metrics
    assert {"cpu", "free_memory_mb"} <= set(metrics)


def test_a_task_type_is_mapped_to_a_handler_and_an_unknown_handler_fails_for_good(
        live, tmp_path):
    admin = live.admin()
    kind = new_type(admin)
    mapped = admin.create_task(title="mapped", task_type=kind, payload={"seconds": 0})
    unknown = admin.create_task(title="unknown", task_type=kind, payload={"handler": "nope"})

    with unit(live, tmp_path, kind, "--handler-for", f"{kind}=sleep"):
        assert finished(admin, mapped, tmp_path).result == {"slept": 0}
        failed = finished(admin, unknown, tmp_path)

    assert failed.status == "failed" and "no handler 'nope'" in failed.error


def test_the_unit_registers_with_the_registration_secret_and_keeps_its_token(live, tmp_path):
    admin = live.admin()
    kind = new_type(admin)
    token_file = tmp_path / "unit.token"
    secret = ("--registration-secret", REGISTRATION_SECRET, "--token-file", str(token_file))

    for attempt in range(2):  # the second start uses the kept token: a secret registers once
        task = admin.create_task(title=f"noop {attempt}", task_type=kind,
                                 payload={"handler": "noop"})
        with unit(live, tmp_path, kind, credentials=secret):
            assert finished(admin, task, tmp_path).status == "completed"
    assert token_file.read_text().startswith("tmu_")
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"


def test_a_cancelled_task_is_stopped_within_a_heartbeat_and_its_slot_freed(live, tmp_path):
    admin = live.admin()
    kind = new_type(admin)
    long = admin.create_task(title="long", task_type=kind,
                             payload={"handler": "sleep", "seconds": 60})

    with unit(live, tmp_path, kind, capacity=1):
        running(admin, long, tmp_path)
        admin.cancel(long.id)
        cancelled_at = time.monotonic()
        # The unit's only slot is free again once the job stopped: the next task runs.
        after = admin.create_task(title="after", task_type=kind, payload={"handler": "noop"})
        assert finished(admin, after, tmp_path).status == "completed"
        took = time.monotonic() - cancelled_at

    assert took < 4 * HEARTBEAT_EVERY + 3
    assert admin.get_task(long.id).status == "cancelled"
    assert "cancelled; nothing reported" in unit_log(tmp_path)


def test_the_unit_outlives_a_server_restart_and_goes_on_working(live, tmp_path):
    admin = live.admin()
    kind = new_type(admin)
    before = admin.create_task(title="before", task_type=kind, payload={"handler": "noop"})
    unit_id = f"{kind}-worker"

    with unit(live, tmp_path, kind, "--heartbeat-timeout", "2") as process:
        assert finished(admin, before, tmp_path).status == "completed"
        live.stop()
        try:
            # Down until the unit has seen it (the client's own retries outlast a short
            # outage) and long enough for the units sweep to take it for offline.
            wait_until(lambda: " failed (" in unit_log(tmp_path), seconds=30,
                       what="a failed claim or heartbeat", log=tmp_path)
            time.sleep(2.5)
            live.manage("units", "sweep")
            assert f"{unit_id}\t{kind}\toffline" in live.manage("units", "list")
        finally:
            live.start()  # the next tests need it, whatever happened here
        after = admin.create_task(title="after", task_type=kind, payload={"handler": "noop"})

        assert finished(admin, after, tmp_path, seconds=40).status == "completed"
        assert admin.get_unit(unit_id).status == "online"  # its heartbeats brought it back
        assert process.poll() is None


def test_on_sigterm_the_unit_stops_claiming_finishes_or_gives_back_and_exits_0(
        live, tmp_path):
    admin = live.admin()
    kind = new_type(admin, retry_backoff=3600)  # a failure would wait an hour: none here
    short = admin.create_task(title="short", task_type=kind,
                              payload={"handler": "sleep", "seconds": 1})
    long = admin.create_task(title="long", task_type=kind,
                             payload={"handler": "sleep", "seconds": 60})

    with unit(live, tmp_path, kind, "--grace", "2.5") as process:
        running(admin, short, tmp_path)
        running(admin, long, tmp_path)
        process.send_signal(signal.SIGTERM)
        later = admin.create_task(title="later", task_type=kind, payload={"handler": "noop"})
        assert process.wait(timeout=20) == 0, unit_log(tmp_path)

    statuses = {t.title: admin.get_task(t.id).status for t in (short, long, later)}
    assert statuses["short"] == "completed"
    # Given back to the queue at once, for another unit: not failed, nothing to wait for.
    assert statuses["long"] == "queued"
    assert admin.get_task(long.id).error == ""
    assert statuses["later"] == "queued"  # never claimed
    assert admin.get_unit(f"{kind}-worker").status == "draining"


@pytest.mark.parametrize("start_with", ["draining"])
def test_a_unit_started_again_after_a_shutdown_takes_work_again(live, tmp_path, start_with):
    admin = live.admin()
    kind = new_type(admin)
    with unit(live, tmp_path, kind) as process:
        wait_until(lambda: "serving" in unit_log(tmp_path), seconds=20, what="start",
                   log=tmp_path)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert admin.get_unit(f"{kind}-worker").status == start_with

    task = admin.create_task(title="next", task_type=kind, payload={"handler": "noop"})
    with unit(live, tmp_path, kind):
        assert finished(admin, task, tmp_path).status == "completed"


def test_manage_py_run_unit_registers_through_the_database_and_serves(live, tmp_path):
    admin = live.admin()
    kind = new_type(admin)
    task = admin.create_task(title="noop", task_type=kind, payload={"handler": "noop"})
    with open(tmp_path / "unit.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_unit", "--id", "from-manage", "--type", kind,
             "--url", live.url, "--heartbeat-every", str(HEARTBEAT_EVERY), "--claim-wait", "1"],
            cwd=REPO_DIR, env=live.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        try:
            assert finished(admin, task, tmp_path).status == "completed"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert admin.get_unit("from-manage").unit_type == kind



def test_a_unit_whose_token_was_replaced_stops_with_exit_code_3(live, tmp_path):
    admin = live.admin()
    kind = new_type(admin)
    with unit(live, tmp_path, kind) as process:
        wait_until(lambda: "serving" in unit_log(tmp_path), seconds=20, what="start",
                   log=tmp_path)
        admin.register_unit(unit_id=f"{kind}-worker", unit_type=kind)  # a new token

        assert process.wait(timeout=20) == 3
    assert "no longer accepts this unit's token" in unit_log(tmp_path)


def test_the_command_line_turns_on_private_http_and_the_shell(live, tmp_path):
    admin = live.admin()
    kind = new_type(admin)
    fetch = admin.create_task(title="health", task_type=kind, payload={
        "handler": "http_request", "url": f"{live.url}/health"})
    echo = admin.create_task(title="echo", task_type=kind,
                             payload={"handler": "shell", "argv": ["echo", "hi"]})

    with unit(live, tmp_path, kind, "--allow-private-http", "--enable-shell"):
        fetched, echoed = finished(admin, fetch, tmp_path), finished(admin, echo, tmp_path)

    assert fetched.status == "completed" and fetched.result["status"] == 200
    assert echoed.result == {"exit_code": 0, "stdout": "hi\n", "stderr": ""}
