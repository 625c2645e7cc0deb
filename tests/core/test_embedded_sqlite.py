"""The embedded SQLite holds up under `make run`'s own processes writing at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
WRITERS = 3
ROUNDS = 40


def run(args: list[str], env: dict, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=BASE_DIR, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


def test_concurrent_writer_processes_never_find_the_database_locked(tmp_path):
    env = {**os.environ, "DEBUG": "1", "TASKMANAGE_VAR_DIR": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           # Dispatch after commit runs in the process too: more writes, as a worker would.
           "CELERY_TASK_ALWAYS_EAGER": "1"}
    setup = ("import django; django.setup(); from django.core.management import call_command;"
             "call_command('migrate', verbosity=0);"
             "from apps.tasks.models import TaskType;"
             "TaskType.objects.create(key='load', name='Load')")
    prepared = subprocess.run([sys.executable, "-c", setup], cwd=BASE_DIR, env=env,
                              capture_output=True, text=True, timeout=180)
    assert prepared.returncode == 0, prepared.stderr[-2000:]

    start_at = time.time() + 3  # every writer has imported Django by then
    writers = [run(["tests/core/sqlite_writer.py", f"w{i}", str(ROUNDS), str(start_at)], env)
               for i in range(WRITERS)]
    outputs = [w.communicate(timeout=240)[0] for w in writers]

    assert all("database is locked" not in out for out in outputs), outputs
    assert [w.returncode for w in writers] == [0] * WRITERS, outputs
    # Each writer reports how many rounds it finished (the sweeps it ran eagerly log too).
    assert all(f"ok {ROUNDS}" in out.splitlines() for out in outputs), outputs
