"""One writer process for tests/core/test_embedded_sqlite.py: what the web server, worker and
beat of `make run` do to the embedded SQLite at once, in a loop.

Each round creates a task (idempotency lookup, then insert), moves it (read under a "lock",
then write) and runs a sweep, the read-then-write transactions that collide. Prints one line:
`ok <rounds>` or the error.
"""

from __future__ import annotations

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskmanage.settings")
django.setup()

from apps.core.actors import Actor  # noqa: E402
from apps.tasks import services  # noqa: E402
from apps.tasks.models import TaskType  # noqa: E402


def say(line: str) -> None:
    # One write of the whole line: print() writes the text and the newline separately when
    # output is unbuffered, and a log line from another thread (stderr shares the pipe) then
    # lands between them ("ok 402026-12-01 … INFO …").
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(name: str, rounds: int, start_at: float) -> None:
    by = Actor.system(name)
    kind = TaskType.objects.get(key="load")
    time.sleep(max(0.0, start_at - time.time()))  # all writers begin together
    for i in range(rounds):
        task, _ = services.task_create(spec=services.TaskSpec(
            title=f"{name} {i}", task_type=kind, idempotency_key=f"{name}-{i}"), by=by)
        services.task_transition(task_id=task.pk, action="cancel", by=by)
        services.tasks_promote_due()
    say(f"ok {rounds}")


if __name__ == "__main__":
    try:
        main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
    except Exception as exc:
        say(f"error {type(exc).__name__}: {exc}")
        sys.exit(1)
