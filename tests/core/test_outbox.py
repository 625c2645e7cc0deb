"""The outbox: a request hands a message over and moves on, whatever Redis is doing."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid

from django.conf import settings
from prometheus_client import REGISTRY

from apps.core.outbox import Outbox


def dropped(name: str, why: str) -> float:
    return REGISTRY.get_sample_value(
        "taskmanage_outbox_dropped_total", {"outbox": name, "why": why}) or 0.0


def blocked_outbox(**options) -> tuple[Outbox, list, threading.Event]:
    """An outbox whose sending hangs (like a client waiting on a frozen Redis) until released."""
    sent: list = []
    release = threading.Event()

    def send(batch: list) -> None:
        release.wait(10)
        sent.append(batch)

    return Outbox(f"test-{uuid.uuid4().hex[:8]}", send, **options), sent, release


def test_putting_never_waits_for_a_hung_send_and_order_is_kept():
    outbox, sent, release = blocked_outbox()
    started = time.monotonic()
    for n in range(5):
        outbox.put(n)
    assert time.monotonic() - started < 2  # the send hangs for 10 s; a busy machine's slack
    assert not outbox.flush(timeout=0.2)  # still stuck in the first send

    release.set()

    assert outbox.flush(timeout=5)
    assert sent == [[0], [1], [2], [3], [4]]


def test_sends_are_batched_up_to_the_batch_size():
    outbox, sent, release = blocked_outbox(batch=3)
    for n in range(7):
        outbox.put(n)
    release.set()
    assert outbox.flush(timeout=5)
    assert sorted(x for batch in sent for x in batch) == list(range(7))
    assert max(len(batch) for batch in sent) <= 3


def test_a_full_outbox_drops_new_messages_and_counts_them(caplog):
    outbox, sent, release = blocked_outbox(maxsize=2)
    outbox.put("a")
    time.sleep(0.1)  # the thread took "a" and hangs sending it
    for item in ("b", "c", "d"):
        outbox.put(item)

    release.set()

    assert outbox.flush(timeout=5)
    assert sent == [["a"], ["b"], ["c"]]
    assert dropped(outbox.name, "full") == 1
    assert "outbox full" in caplog.text


def test_a_failed_send_is_counted_and_the_next_messages_still_go(caplog):
    sent: list = []

    def send(batch: list) -> None:
        if batch == ["boom"]:
            raise ConnectionError("redis timed out")
        sent.append(batch)

    outbox = Outbox(f"test-{uuid.uuid4().hex[:8]}", send)
    for item in ("boom", "after"):
        outbox.put(item)

    assert outbox.flush(timeout=5)
    assert sent == [["after"]]
    assert dropped(outbox.name, "failed") == 1
    assert "1 message(s) not sent: redis timed out" in caplog.text


# Forked in a fresh interpreter: a test worker runs other threads (thread pools, other
# outboxes) whose locks a fork copies in whatever state they are, and a child stuck on one
# hung the whole test run.
FORK_SCENARIO = """
import os, threading
from apps.core.outbox import Outbox
sent, release = [], threading.Event()
def send(batch):
    release.wait(10)
    sent.append(batch)
outbox = Outbox("fork-test", send)
outbox.put("parent")  # the parent's thread now hangs in this send
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:  # the child: its own queue and thread; report what it sent, then leave
    try:
        os.close(read_end)
        release.set()  # only the child's copy: the parent's thread keeps hanging
        outbox.put("child")
        ok = outbox.flush(timeout=5)
        os.write(write_end, repr((ok, sent)).encode())
    finally:
        os._exit(0)
os.close(write_end)
with os.fdopen(read_end) as pipe:
    print(pipe.read())
os.waitpid(pid, 0)
release.set()
print(outbox.flush(timeout=5), sent)
"""


def test_a_forked_child_sends_with_its_own_thread_not_the_parents_stuck_one():
    # Celery's prefork pool forks workers from a process that may already hold an outbox.
    done = subprocess.run([sys.executable, "-c", FORK_SCENARIO], cwd=settings.BASE_DIR,
                          capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    child_report, parent_report = done.stdout.splitlines()
    assert child_report == repr((True, [["child"]]))
    assert parent_report == "True [['parent']]"