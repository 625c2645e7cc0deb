"""Redis restarted mid-run: heartbeats are lost with it, yet no unit is marked offline and no
task is lost. PostgreSQL keeps the truth; Redis only makes things fast."""

from __future__ import annotations

import socket
import subprocess
import time
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from apps.execution import beats, services
from apps.execution.models import ExecutionUnit
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus as S
from taskmanage import embedded_redis
from tests.builders import create_task
from tests.execution.conftest import register, unit_client

pytestmark = pytest.mark.django_db


def start_redis(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [embedded_redis.redis_executable(), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    probe = redis.Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while True:
        try:
            probe.ping()
            return server
        except redis.RedisError:
            assert time.monotonic() < deadline, "redis-server never answered"
            time.sleep(0.05)


@pytest.fixture
def restartable_redis(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    servers = [start_redis(port)]
    settings.UNITS_REDIS_URL = f"redis://127.0.0.1:{port}/0"
    settings.UNIT_HEARTBEAT_GRACE_SECONDS = 60
    beats.reset_client()

    def restart() -> None:
        servers[-1].kill()
        servers[-1].wait(10)
        servers.append(start_redis(port))  # empty: every heartbeat it held is gone

    yield restart
    beats.reset_client()
    for server in servers:
        server.kill()
        server.wait(10)


def test_a_redis_restart_marks_no_unit_offline_and_loses_no_task(restartable_redis, olga,
                                                                  docs):
    create_task(by=olga, task_type=docs)
    unit, token = register("worker-001", heartbeat_timeout=5)
    me = unit_client(token)
    (task,) = me.post("/api/v1/execution-units/worker-001/claim", {"max": 1}).json()["tasks"]
    assert me.post("/api/v1/execution-units/worker-001/heartbeat", {}).status_code == 200
    services.units_sweep()

    restartable_redis()
    # Every unit now looks silent: its last heartbeat went with Redis.
    swept = services.units_sweep(now=timezone.now() + timedelta(seconds=10))

    assert swept.offline == 0 and swept.failed_over == 0
    assert ExecutionUnit.objects.get(pk=unit.pk).status == "online"
    assert Task.objects.get(pk=task["id"]).status == S.RUNNING
    assert me.post("/api/v1/execution-units/worker-001/heartbeat", {}).status_code == 200
    assert me.post(f"/api/v1/tasks/{task['id']}/complete", {}).status_code == 200


def test_with_redis_down_a_heartbeat_is_written_to_postgresql(restartable_redis, settings,
                                                              docs):
    unit, token = register("worker-001")
    settings.UNITS_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    beats.reset_client()

    beat = unit_client(token).post("/api/v1/execution-units/worker-001/heartbeat",
                                   {"current_load": 4})

    assert beat.status_code == 200 and beat.json()["status"] == "online"
    unit.refresh_from_db()
    assert unit.last_heartbeat_at is not None and unit.reported_load == 4
    swept = services.units_sweep()  # cannot see heartbeats: judges nobody
    assert swept.offline == 0
