"""A live TaskManage for the reference unit to talk to: the real web server as a process
(`manage.py serve`) on a free port, on a database of its own that it migrates, with an admin
token to set things up through the API. The database is a file on SQLite and a database of
its own on PostgreSQL, so the same tests run under `make test` and `make test-pg` and no row
of theirs is seen by the rest of the suite."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from taskmanage_client import Client

REPO_DIR = Path(__file__).resolve().parents[2]
READY_SECONDS = 60
REGISTRATION_SECRET = "live-secret"
SEED_ADMIN = """
from django.contrib.auth import get_user_model
from apps.accounts.services import token_issue
admin = get_user_model().objects.create_superuser("live-admin", "live@example.test", None)
print(token_issue(user=admin, name="live tests")[1])
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Live:
    """The server process, stoppable and startable again on the same port and database."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    admin_token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> str:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_DIR, env=self.env,
                              check=True, capture_output=True, text=True).stdout

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(self.port), "--workers", "1",
             "--no-access-log"],
            cwd=REPO_DIR, env=self.env, stdin=subprocess.DEVNULL, process_group=0)
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the server exited on start-up"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("the server never listened")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def admin(self) -> Client:
        return Client(self.url, token=self.admin_token, retries=2, backoff=0.2)


def database_url(tmp: Path) -> tuple[str, str | None]:
    """A URL for a new, empty database, and the PostgreSQL database's name to drop after."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return f"sqlite:///{tmp / 'live.sqlite3'}", None
    name = f"{db['NAME']}_live_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"[:63]
    with _server_connection(db) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{name}", name


def _server_connection(db: dict) -> psycopg.Connection:
    return psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"],
                           password=db["PASSWORD"] or None, dbname="postgres", autocommit=True)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    url, pg_name = database_url(tmp_path_factory.mktemp("live"))
    env = {
        **os.environ,
        "DEBUG": "0", "SECRET_KEY": "live-unit-tests-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": f"tmlive{uuid.uuid4().hex[:8]}",
        "UNIT_REGISTRATION_SECRETS": f"*:{REGISTRATION_SECRET}",
        "WEB_GRACEFUL_SHUTDOWN_SECONDS": "1", "LOG_LEVEL": "WARNING",
        # The sweep may take a silent unit for offline even if Redis (make test's embedded
        # one) started moments ago.
        "UNIT_HEARTBEAT_GRACE_SECONDS": "0",
    }
    server = Live(env=env)
    try:
        server.manage("migrate", "--noinput", "-v0")
        server.admin_token = server.manage("shell", "-c", SEED_ADMIN).strip().splitlines()[-1]
        server.start()
        yield server
    finally:
        server.stop()
        if pg_name:
            with _server_connection(settings.DATABASES["default"]) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
