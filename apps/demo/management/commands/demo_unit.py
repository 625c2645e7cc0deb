"""`manage.py demo_unit`: a small execution unit for the demo, so unit work moves in `make run`.

It registers itself (through the service: this command runs beside the database, so it
needs no admin token), then talks to the API as any unit does: a heartbeat every few seconds,
long-polling claims, a progress report, a little pretend work, the result. It honours the
cancel flags its heartbeats bring, and on SIGTERM or Ctrl-C it stops claiming, finishes
what it holds and exits. The reference unit with real handlers is `run_unit` (to come).
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand

from apps.core.actors import Actor
from apps.execution.services import unit_register

Transport = Callable[[str, str, dict | None], dict]
HEARTBEAT_EVERY = 5.0
CLAIM_WAIT = 10


def http_transport(base_url: str, token: str, *, timeout: float = 30) -> Transport:
    def call(method: str, path: str, body: dict | None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(base_url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")

    return call


class DemoUnit:
    def __init__(self, unit_id: str, call: Transport, *, capacity: int,
                 work_seconds: tuple[float, float] = (0.5, 2.0), log=print) -> None:
        self.unit_id, self.call, self.capacity = unit_id, call, capacity
        self.work_seconds, self.log = work_seconds, log
        self.stop = threading.Event()
        self.cancelled: set[str] = set()
        self.base = f"/api/v1/execution-units/{unit_id}"

    def heartbeat(self, load: int = 0) -> None:
        answer = self.call("POST", f"{self.base}/heartbeat", {"current_load": load})
        self.cancelled.update(answer.get("cancelled", []))

    def run_once(self) -> int:
        """Claim (waiting a while for work), do it, report it; returns how many were done."""
        tasks = self.call("POST", f"{self.base}/claim",
                          {"max": self.capacity, "wait": CLAIM_WAIT})["tasks"]
        for task in tasks:
            self._work(task)
        return len(tasks)

    def _work(self, task: dict[str, Any]) -> None:
        path = f"/api/v1/tasks/{task['id']}"
        self.call("POST", f"{path}/progress", {"progress": 50})
        time.sleep(random.uniform(*self.work_seconds))
        if task["id"] in self.cancelled:
            self.log(f"{self.unit_id}: {task['title']!r} was cancelled, dropped")
            return
        self.call("POST", f"{path}/complete", {"result": {"demo": True}})
        self.log(f"{self.unit_id}: {task['title']!r} done")

    def run(self) -> None:
        beats = threading.Thread(target=self._beat, daemon=True)
        beats.start()
        while not self.stop.is_set():
            try:
                self.run_once()
            except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
                self.log(f"{self.unit_id}: {exc}; trying again")
                self.stop.wait(2)

    def _beat(self) -> None:
        while not self.stop.is_set():
            try:
                self.heartbeat()
            except (urllib.error.URLError, OSError, ValueError) as exc:
                self.log(f"{self.unit_id}: heartbeat failed ({exc})")
            self.stop.wait(HEARTBEAT_EVERY)


class Command(BaseCommand):
    help = "Run a demo execution unit against the local server (make run starts one)."

    def add_arguments(self, parser):
        parser.add_argument("--id", default="demo-unit-1")
        parser.add_argument("--type", default="document_processing")
        parser.add_argument("--capacity", type=int, default=2)
        parser.add_argument("--url", default="http://127.0.0.1:8000")

    def handle(self, *args, **options):
        done = unit_register(unit_id=options["id"], unit_type=options["type"],
                             capacity=options["capacity"], name="Demo unit", may_rotate=True,
                             by=Actor.system("demo_unit"))
        unit = DemoUnit(options["id"], http_transport(options["url"].rstrip("/"), done.token),
                        capacity=options["capacity"],
                        log=lambda line: self.stdout.write(line))
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: unit.stop.set())
        self.stdout.write(f"{options['id']}: serving {options['type']} at {options['url']}")
        unit.run()
        self.stdout.write(f"{options['id']}: stopped")
