"""The runner's own rules, in-process: what it sends and when. The server is stood in for by
a recorder of the unit's calls (the protocol itself is tested against a live server in
test_live_unit.py)."""

from __future__ import annotations

import threading
import time
import uuid

from taskmanage_client import Conflict, TransportError
from taskmanage_client.models import Heartbeat, Outcome, Task
from taskmanage_client.unit import Fatal, Registry, UnitRunner


class Recorder:
    """Answers as a server would: queued tasks to claims, 409 for the tasks in `lost`."""

    def __init__(self, tasks=(), *, lost=(), down_for=0.0):
        self.tasks, self.lost = list(tasks), set(lost)
        self.calls: list[tuple] = []
        self.cancelled: list[str] = []
        self.batches: list[int] = []  # the size of each batch of results
        self.down_until = time.monotonic() + down_for
        self._lock = threading.Lock()

    def _call(self, *call):
        with self._lock:
            self.calls.append(call)
        if time.monotonic() < self.down_until:
            raise TransportError("no answer (the server is away)")
        if len(call) > 1 and call[1] in self.lost and call[0] != "claim":
            raise Conflict("not held", status=409)

    def heartbeat(self, unit_id, *, current_load=0, metadata=None):
        self._call("heartbeat", unit_id, current_load)
        cancelled, self.cancelled = tuple(self.cancelled), []
        return Heartbeat(status="online", cancelled=cancelled)

    def claim(self, unit_id, *, max=1, wait=0.0):
        self._call("claim", unit_id, max)
        with self._lock:
            taken, self.tasks = self.tasks[:max], self.tasks[max:]
        if not taken:
            time.sleep(min(wait, 0.05))
        return taken

    def progress(self, task_id, progress, *, message=None, estimated_completion=None):
        self._call("progress", task_id, progress)

    def log(self, task_id, lines):
        self._call("log", task_id, list(lines))

    def complete(self, task_id, result=None):
        self._call("complete", task_id, result)

    def fail(self, task_id, error, *, retryable=True):
        self._call("fail", task_id, error, retryable)

    def give_back(self, unit_id, task_ids, *, reason=""):
        for task_id in task_ids:
            self._call("give_back", task_id, reason)
        return list(task_ids)

    def report_results(self, unit_id, results):
        """The batch endpoint, recorded as the one-by-one calls it stands for: a task in
        `lost` answers `conflict` in its place, as the server does."""
        with self._lock:
            self.batches.append(len(results))
            for r in results:
                if r["outcome"] == "completed":
                    self.calls.append(("complete", r["task_id"], r.get("result")))
                else:
                    self.calls.append(("fail", r["task_id"], r["error"], r["retryable"]))
        if time.monotonic() < self.down_until:
            raise TransportError("no answer (the server is away)")
        return [Outcome(task_id=r["task_id"],
                        status="conflict" if r["task_id"] in self.lost else r["outcome"])
                for r in results]

    def drain(self, unit_id, *, reason=""):
        self._call("drain", unit_id)

    def of(self, kind, task_id=None):
        with self._lock:
            return [c for c in self.calls if c[0] == kind and (task_id is None or
                                                              c[1] == task_id)]


def task(handler: str, **payload) -> Task:
    return Task(id=str(uuid.uuid4()), title=handler, task_type="docs",
                payload={"handler": handler, **payload})


def runner(server: Recorder, registry: Registry, **options) -> UnitRunner:
    options = {"capacity": 2, "heartbeat_every": 0.05, "claim_wait": 0.05, "grace": 1.0,
               "progress_every": 0.5, "report_for": 5.0, **options}
    return UnitRunner(server, unit_id="u1", unit_type="docs", handlers=registry, **options)


def until(check, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_progress_is_sent_at_most_twice_a_second_and_logs_in_batches():
    registry = Registry()

    @registry.handler("busy")
    def busy(job):
        for n in range(1, 101):
            job.progress(n)
            job.log(f"step {n}")
            time.sleep(0.01)
        return "done"

    work = task("busy")
    server = Recorder([work])
    unit = runner(server, registry)
    unit.start()
    assert until(lambda: server.of("complete"))
    unit.shutdown()

    progress = [c[2] for c in server.of("progress", work.id)]
    assert 1 <= len(progress) <= 4 and progress[-1] == 100  # the last, before the result
    lines = [line for c in server.of("log", work.id) for line in c[2]]
    assert lines == [("info", f"step {n}") for n in range(1, 101)]
    assert len(server.of("log", work.id)) <= 4
    assert server.calls.index(server.of("progress", work.id)[-1]) < server.calls.index(
        server.of("complete", work.id)[0])


def test_no_more_than_capacity_jobs_run_at_once():
    registry, running, most = Registry(), [], []
    lock = threading.Lock()

    @registry.handler("slow")
    def slow(job):
        with lock:
            running.append(job.id)
            most.append(len(running))
        time.sleep(0.2)
        with lock:
            running.remove(job.id)

    server = Recorder([task("slow") for _ in range(5)])
    unit = runner(server, registry, capacity=2)
    unit.start()
    assert until(lambda: len(server.of("complete")) == 5)
    unit.shutdown()

    assert max(most) == 2
    assert all(c[2] <= 2 for c in server.of("claim"))  # it asks for its free slots only


def test_a_result_the_server_answers_409_is_dropped_not_retried():
    work = task("noop")
    server = Recorder([work], lost={work.id})
    unit = runner(server, Registry())
    unit.handlers.register("noop", lambda job: {"ok": True})
    unit.start()
    assert until(lambda: server.of("complete"))
    time.sleep(0.2)
    unit.shutdown()

    assert len(server.of("complete", work.id)) == 1 and server.of("fail", work.id) == []
    assert unit.running == {}


def test_a_cancel_in_a_heartbeat_stops_the_job_and_reports_nothing():
    registry = Registry()
    registry.register("wait", lambda job: job.cancelled.wait(30) and "stopped")
    work = task("wait")
    server = Recorder([work])
    unit = runner(server, registry)
    unit.start()
    assert until(lambda: work.id in unit.running)
    server.cancelled.append(work.id)

    assert until(lambda: unit.running == {}, seconds=2)
    unit.shutdown()
    assert server.of("complete", work.id) == [] and server.of("fail", work.id) == []


def test_a_refused_progress_report_stops_the_job():
    registry = Registry()

    @registry.handler("long")
    def long(job):
        while not job.is_cancelled():
            job.progress(10)
            time.sleep(0.02)

    work = task("long")
    server = Recorder([work], lost={work.id})
    unit = runner(server, registry, progress_every=0.05)
    unit.start()

    assert until(lambda: server.of("progress") and unit.running == {}, seconds=3)
    unit.shutdown()
    assert server.of("complete", work.id) == []


def test_a_job_still_running_after_the_grace_is_given_back_and_its_result_dropped():
    registry, release = Registry(), threading.Event()
    registry.register("stubborn", lambda job: release.wait(10) and "late")  # ignores cancel
    work = task("stubborn")
    server = Recorder([work])
    unit = runner(server, registry, grace=0.3)
    unit.start()
    assert until(lambda: work.id in unit.running)

    started = time.monotonic()
    unit.shutdown()
    release.set()
    time.sleep(0.1)

    assert time.monotonic() - started < 3
    assert server.of("drain") and server.of("give_back", work.id) == [
        ("give_back", work.id, "the unit shut down before it finished")]
    assert server.of("complete") == [] and server.of("fail") == []


def test_a_result_is_reported_once_the_server_is_back():
    work = task("noop")
    server = Recorder([work])
    registry = Registry()

    @registry.handler("noop")
    def noop(job):
        server.down_until = time.monotonic() + 1.0  # the server goes away as the job ends
        return {"ok": True}

    unit = runner(server, registry)
    unit.start()

    assert until(lambda: len(server.of("complete", work.id)) >= 2, seconds=6)
    unit.shutdown()
    assert server.of("complete", work.id)[-1] == ("complete", work.id, {"ok": True})


def test_many_short_tasks_are_claimed_and_reported_in_batches_not_one_by_one():
    works = [task("noop") for _ in range(40)]
    server = Recorder(works)
    registry = Registry()

    @registry.handler("noop")
    def noop(job):
        return {"ok": True}

    unit = runner(server, registry, capacity=10, gather=0.05)
    unit.start()
    assert until(lambda: len(server.of("complete")) == 40)
    unit.shutdown()

    assert sorted(c[1] for c in server.of("complete")) == sorted(w.id for w in works)
    # One at a time would be 40 of each; a slot freed waits a moment for others.
    assert len(server.batches) <= 20, server.batches
    assert len([c for c in server.of("claim") if c[2] > 0]) <= 20
    assert max(server.batches) > 1


def test_a_result_that_is_not_json_fails_its_task_and_the_unit_goes_on():
    works = [task("odd"), task("noop")]
    server = Recorder(works)
    registry = Registry()

    @registry.handler("odd")
    def odd(job):
        return {"at": object()}  # not JSON: found now, not when it is sent

    @registry.handler("noop")
    def noop(job):
        return {"ok": True}

    unit = runner(server, registry, capacity=1)
    unit.start()
    assert until(lambda: server.of("complete", works[1].id))
    unit.shutdown()

    (failed,) = server.of("fail", works[0].id)
    assert failed[2].startswith("the result is not JSON") and failed[3] is False
    assert unit.running == {}


def test_an_error_longer_than_the_server_keeps_is_cut_to_fit():
    work = task("loud")
    server = Recorder([work])
    registry = Registry()

    @registry.handler("loud")
    def loud(job):
        raise Fatal("x" * 20_000)

    unit = runner(server, registry)
    unit.start()
    assert until(lambda: server.of("fail", work.id))
    unit.shutdown()

    (failed,) = server.of("fail", work.id)
    assert len(failed[2]) == 10_000 and failed[3] is False
