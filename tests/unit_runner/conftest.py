"""A live TaskManage for the reference unit to talk to: the real web server as a process
(`manage.py serve`) on a free port, on a database of its own (a copy of one migrated once per
run), with an admin token to set things up through the API. The database is a file on SQLite
and a database of its own on PostgreSQL, so the same tests run under `make test` and
`make test-pg` and no row of theirs is seen by the rest of the suite."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import sqlite3
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
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_DIR, env=self.env,
                              capture_output=True, text=True)
        assert done.returncode == 0, f"manage.py {' '.join(args)}: {done.stderr[-3000:]}"
        return done.stdout

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


def migrated_database_url(tmp: Path, env: dict[str, str]) -> tuple[str, str | None]:
    """A URL for a new database with every migration applied, and the PostgreSQL name to drop.

    Migrating from nothing takes half a minute, more on a loaded machine, and each module of
    live tests needs a database of its own on every xdist worker that runs one of its tests.
    So the first to need one migrates a template, once per test run and under a lock; the
    others copy it, which takes about a second."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return _sqlite_copy(tmp, env), None
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    base = db["NAME"].removesuffix(f"_{worker}")[:40]
    name = f"{base}_live_{worker}"
    template = f"{base}_tpl_{_RUN_ID[:8]}"
    with _server_connection(db) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", [base + "_tpl"])
        try:
            _ensure_template(conn, db, env, base=base, template=template)
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", [base + "_tpl"])
    return _postgres_url(db, name), name


# One id for the whole run: xdist gives its workers the same one.
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex


def _ensure_template(conn: psycopg.Connection, db: dict, env: dict[str, str], *, base: str,
                     template: str) -> None:
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template]).fetchone():
        return
    # Templates of earlier runs are left behind (no worker knows it is the last one out):
    # the next run drops them.
    stale = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                         [f"{base}_tpl_%"]).fetchall()
    for (old,) in stale:
        conn.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
    # Migrated under another name and renamed when whole: a migration that fails half-way
    # leaves no template that looks ready.
    partial = f"{template}_partial"
    conn.execute(f'CREATE DATABASE "{partial}"')
    _migrate({**env, "DATABASE_URL": _postgres_url(db, partial)})
    conn.execute(f'ALTER DATABASE "{partial}" RENAME TO "{template}"')


def _sqlite_copy(tmp: Path, env: dict[str, str]) -> str:
    # The directory every xdist worker of this run shares (one process: its own).
    shared = tmp.parents[1] if "PYTEST_XDIST_WORKER" in os.environ else tmp.parent
    template = shared / "live-template.sqlite3"
    with open(shared / "live-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            partial = shared / "live-template.partial.sqlite3"
            partial.unlink(missing_ok=True)
            _migrate({**env, "DATABASE_URL": f"sqlite:///{partial}"})
            partial.rename(template)
    target = tmp / "live.sqlite3"
    # SQLite's backup API: a consistent copy whatever journal the template was left in.
    with sqlite3.connect(template) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return f"sqlite:///{target}"


def _migrate(env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
                          cwd=REPO_DIR, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"migrating the template failed: {done.stderr[-3000:]}"


def _postgres_url(db: dict, name: str) -> str:
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{name}"


def _server_connection(db: dict) -> psycopg.Connection:
    return psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"],
                           password=db["PASSWORD"] or None, dbname="postgres", autocommit=True)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    env = {
        **os.environ,
        "DEBUG": "0", "SECRET_KEY": "live-unit-tests-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0",
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": f"tmlive{uuid.uuid4().hex[:8]}",
        "UNIT_REGISTRATION_SECRETS": f"*:{REGISTRATION_SECRET}",
        "WEB_GRACEFUL_SHUTDOWN_SECONDS": "1", "LOG_LEVEL": "WARNING",
        # The sweep may take a silent unit for offline even if Redis (make test's embedded
        # one) started moments ago.
        "UNIT_HEARTBEAT_GRACE_SECONDS": "0",
    }
    url, pg_name = migrated_database_url(tmp_path_factory.mktemp("live"), env)
    env["DATABASE_URL"] = url
    server = Live(env=env)
    try:
        server.admin_token = server.manage("shell", "-c", SEED_ADMIN).strip().splitlines()[-1]
        server.start()
        yield server
    finally:
        server.stop()
        if pg_name:
            with _server_connection(settings.DATABASES["default"]) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
