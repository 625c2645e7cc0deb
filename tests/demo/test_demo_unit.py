"""The demo unit does what any unit does: beats, claims, reports progress and results, and
drops work its heartbeat says was cancelled. Its HTTP is stood in for by a recorder."""

from __future__ import annotations

from apps.demo.management.commands.demo_unit import DemoUnit


class Server:
    def __init__(self, tasks, cancelled=()):
        self.tasks, self.cancelled, self.calls = list(tasks), list(cancelled), []

    def __call__(self, method, path, body):
        self.calls.append((path.rsplit("/", 1)[-1], body))
        if path.endswith("/claim"):
            tasks, self.tasks = self.tasks, []
            return {"tasks": tasks}
        if path.endswith("/heartbeat"):
            return {"status": "online", "cancelled": self.cancelled}
        return {}


def test_a_claimed_task_is_reported_then_completed():
    server = Server([{"id": "t1", "title": "doc"}])
    unit = DemoUnit("demo-1", server, capacity=2, work_seconds=(0, 0), log=lambda _: None)

    assert unit.run_once() == 1

    assert server.calls == [("claim", {"max": 2, "wait": 10}),
                            ("progress", {"progress": 50}),
                            ("complete", {"result": {"demo": True}})]


def test_work_its_heartbeat_says_was_cancelled_is_dropped_not_completed():
    server = Server([{"id": "t1", "title": "doc"}], cancelled=["t1"])
    unit = DemoUnit("demo-1", server, capacity=1, work_seconds=(0, 0), log=lambda _: None)

    unit.heartbeat()
    unit.run_once()

    assert [name for name, _ in server.calls] == ["heartbeat", "claim", "progress"]
