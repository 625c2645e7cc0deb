"""A live TaskManage server for the client's tests, and the people and types they use.

On PostgreSQL the server is a real process (`manage.py serve`: uvicorn and taskmanage.asgi,
as deployed) on a free port, against this test's database, one per test module. SQLite's
test database lives in this process's memory, where no other process can see it: there the
server is pytest-django's `live_server` (a real HTTP server on a socket, in a thread of this
process). Either way the client talks HTTP to the server through a real socket.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from taskmanage_client import Client

from apps.accounts.services import token_issue
from tests.builders import make_task_type

REPO_DIR = Path(__file__).resolve().parents[2]
READY_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _answers(origin: str) -> bool:
    try:
        with urllib.request.urlopen(origin + "/health/database", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def served_process(django_db_setup, django_db_blocker) -> Iterator[str]:
    """`manage.py serve` against this test database (PostgreSQL); its origin."""
    port = free_port()
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": settings.SECRET_KEY,
           "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0",
           "DATABASE_URL": _database_url(), "REDIS_URL": settings.REDIS_URL}
    with django_db_blocker.unblock():
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", "1",
             "--no-access-log"],
            cwd=REPO_DIR, env=env, stdin=subprocess.DEVNULL, process_group=0)
        origin = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + READY_SECONDS
            while not _answers(origin):
                assert process.poll() is None, "the server exited on start-up"
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.2)
            yield origin
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def api_url(request, transactional_db) -> str:
    """The origin of a live server that sees this test's committed rows."""
    if connection.vendor == "postgresql":
        return request.getfixturevalue("served_process")
    return request.getfixturevalue("live_server").url


@pytest.fixture
def docs():
    """A unit task type of this test's own: the server process caches task types by key,
    and another test's `docs` (rolled away since) must not be found by it."""
    return make_task_type(f"docs-{uuid.uuid4().hex[:8]}", assignee_kind="unit", max_retries=2)


@pytest.fixture
def admin_token(olga) -> str:
    return token_issue(user=olga)[1]


@pytest.fixture
def service(api_url, admin_token) -> Iterator[Client]:
    """A service calling as olga, the operator; few, quick retries."""
    with Client(api_url, token=admin_token, retries=2, backoff=0.05) as client:
        yield client


def unit_id() -> str:
    return f"worker-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def unit(service, docs, api_url) -> Iterator[tuple[Client, str]]:
    """A registered unit of `docs`: a client with its token, and its id."""
    uid = unit_id()
    registration = service.register_unit(unit_id=uid, unit_type=docs.key, capacity=4)
    with Client(api_url, token=registration.token, retries=2, backoff=0.05) as client:
        yield client, uid
