"""No exception, in any mode, keeps a database connection out of the pool.

Driven through the application the server runs (taskmanage.asgi: Django's WSGI handler on a
pool of threads), whose request threads take a connection from the pool and must give it back
when the response is closed. An exception that escaped the handler (Django's DEBUG page failing
on a lone surrogate) used to skip that, and 7-8 such requests starved the pool: every call then
waited for a connection and failed, `/health/database` included.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from apps.accounts.services import token_issue
from taskmanage.asgi import application
from tests.builders import make_task_type

REQUESTS = 12  # more than the pool holds (DB_POOL_MAX: WEB_THREADS + 2, 6)


def call(path: str, *, method: str = "GET", body: bytes = b"", token: str = "") -> tuple:
    """One request through the served application: (status, headers, body), or the exception
    that escaped it."""
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    sent: list[dict] = []
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if pending:
            return pending.pop()
        await asyncio.Event().wait()  # the client stays connected until answered

    async def send(message):
        sent.append(message)

    async def run():
        await application(scope, receive, send)

    try:
        asyncio.run(run())
    except Exception as exc:
        return exc, {}, b""
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), content


@pytest.fixture
def token(transactional_db, mallory):
    make_task_type("doc")
    return token_issue(user=mallory)[1]


def assert_the_api_still_serves(token: str) -> None:
    status, _, body = call("/health/database")
    assert status == 200, body
    status, _, body = call("/api/v1/tasks", token=token)
    assert status == 200, body


@pytest.mark.parametrize("debug", [True, False])
def test_surrogate_requests_are_400s_and_leave_the_pool_whole(token, settings, debug):
    settings.DEBUG = debug
    raw = b'{"title": "t", "task_type": "doc", "priority": "\\ud800"}'

    answers = [call("/api/v1/tasks", method="POST", body=raw, token=token)
               for _ in range(REQUESTS)]

    assert {a[0] for a in answers} == {400}
    assert json.loads(answers[0][2])["priority"]
    assert_the_api_still_serves(token)


@pytest.mark.parametrize("path", ["/api/v1/surrogate-boom", "/surrogate-boom"])
def test_an_error_page_that_fails_to_render_is_still_a_500_and_returns_its_connection(
        token, settings, path):
    settings.DEBUG = True  # the technical 500 page: it cannot encode the error's message
    settings.ROOT_URLCONF = "tests.core.failing_urls"

    answers = [call(path, token=token) for _ in range(REQUESTS)]

    assert [a[0] for a in answers] == [500] * REQUESTS
    if path.startswith("/api/"):
        assert json.loads(answers[0][2])["code"] == "server_error"
    assert_the_api_still_serves(token)
