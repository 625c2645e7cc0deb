"""The web server as deployed (`manage.py serve`): HTTP and WebSockets on one origin, and a
SIGTERM that lets the requests under way finish.

Each test starts the real server (uvicorn, two worker processes of taskmanage.asgi) on a free
port against this test's PostgreSQL database and Redis, and always stops it. PostgreSQL only:
the server is another process and must see the rows this test commits, which SQLite's
in-memory test database cannot offer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.test import Client
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from apps.accounts.services import token_issue
from apps.ops.consumers import EVENTS_GROUP
from apps.tasks.models import Task
from apps.tasks.states import AssigneeKind
from tests.builders import make_task_type

pytestmark = pytest.mark.django_db(transaction=True)

REPO_DIR = Path(__file__).resolve().parents[2]
READY_SECONDS = 60
GRACEFUL_SECONDS = 10
SHORT_REDIS_TIMEOUT = 0.3


@dataclass
class Served:
    process: subprocess.Popen
    port: int

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.origin + path, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@contextmanager
def serving(*, workers: int) -> Iterator[Served]:
    """`manage.py serve` on a free port against this test database, until the block ends."""
    if connection.vendor != "postgresql":
        pytest.skip("the server process needs this test's database: PostgreSQL only")
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "0", "SECRET_KEY": settings.SECRET_KEY,  # the same key signs the sessions
        "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL,
        "WEB_GRACEFUL_SHUTDOWN_SECONDS": str(GRACEFUL_SECONDS),
        # Short, so a live stream that a Redis read timeout would cut is cut within the test.
        "REDIS_SOCKET_TIMEOUT": str(SHORT_REDIS_TIMEOUT),
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", str(workers),
         "--no-access-log"],
        cwd=REPO_DIR, env=env, stdin=subprocess.DEVNULL, process_group=0,
    )
    server = Served(process, port)
    try:
        _wait_until_it_answers(server)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker) -> Iterator[Served]:
    """One server for the tests that do not stop it (starting one takes seconds)."""
    with django_db_blocker.unblock(), serving(workers=1) as server:
        yield server


def _wait_until_it_answers(server: Served) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        assert server.process.poll() is None, "the server exited on start-up"
        try:
            if server.get("/health") == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server never answered /health")


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def test_the_api_health_and_live_events_are_served_on_one_origin(olga, served: Served) -> None:
    operator = olga
    marker = str(uuid.uuid4())

    assert served.get("/health") == 200
    assert served.get("/health/database") == 200
    assert served.get("/api/v1/tasks") == 401  # the API, unauthenticated
    with connect(f"ws://127.0.0.1:{served.port}/ws/events/",
                 additional_headers={"Cookie": session_cookie(operator),
                                     "Origin": served.origin},
                 open_timeout=10) as socket_:
        # A quiet stream stays open: the consumer's wait for messages outlasts any read
        # timeout (it used to die with the first Redis read timeout).
        time.sleep(4 * SHORT_REDIS_TIMEOUT)
        async_to_sync(get_channel_layer().group_send)(
            EVENTS_GROUP, {"type": "domain.events", "events": [{"marker": marker}]})
        # Other test processes may publish to the same group meanwhile: wait for ours.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            event = json.loads(socket_.recv(timeout=10))
            if event.get("marker") == marker:
                break
        else:
            raise AssertionError("the event never reached the socket")


def test_live_events_refuse_a_visitor_without_a_session(served: Served) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{served.port}/ws/events/",
                additional_headers={"Origin": served.origin}, open_timeout=10)

    assert refused.value.response.status_code == 403


def test_sigterm_lets_a_request_under_way_finish_then_the_server_exits(mallory) -> None:
    make_task_type("doc", assignee_kind=AssigneeKind.UNIT)
    token = token_issue(user=mallory)[1]
    body = json.dumps({"title": "finish me", "task_type": "doc"}).encode()
    head = ("POST /api/v1/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()

    # Two processes, as deployed: the SIGTERM reaches uvicorn's manager, which stops each worker.
    with serving(workers=2) as served, socket.create_connection(
            ("127.0.0.1", served.port), timeout=GRACEFUL_SECONDS) as sock:
        sock.sendall(head + body[:10])
        time.sleep(0.5)  # the server has read the head: the request is under way
        os.kill(served.process.pid, signal.SIGTERM)
        time.sleep(1.0)  # the stop has begun; the client is still sending
        sock.sendall(body[10:])
        response = _read_response(sock)
        exit_code = served.process.wait(GRACEFUL_SECONDS + 5)

    assert response.startswith(b"HTTP/1.1 201"), response[:200]
    assert Task.objects.filter(title="finish me").exists()
    assert exit_code == 0


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data
