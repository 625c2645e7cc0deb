"""A real HTTP receiver on 127.0.0.1 for callbacks to reach (allowed by the setting, as a
receiver on a private network would be), and deliveries run inline when the task's
transaction commits."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.callbacks import services


class Receiver:
    def __init__(self):
        self.requests: list[dict] = []
        self.codes: list[int] = []  # answers to give, in order; 200 once they run out
        self.delays: list[float] = []  # seconds to wait before answering, in order
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/tm?src=test"

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  (http.server's spelling)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": body, "json": json.loads(body)})
                if receiver.delays:
                    time.sleep(receiver.delays.pop(0))
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture
def allow_private(settings):
    settings.CALLBACK_ALLOW_PRIVATE = True
    settings.CALLBACK_BACKOFF_SECONDS = 10.0
    settings.CALLBACK_BACKOFF_MAX_SECONDS = 3600.0
    settings.CALLBACK_MAX_ATTEMPTS = 3
    settings.CALLBACK_TIMEOUT_SECONDS = 2.0
    return settings


@pytest.fixture
def receiver(allow_private):
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def closed_port_url(allow_private):
    """A URL on which nothing listens: the connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone"


@pytest.fixture
def eager_celery(monkeypatch):
    """Deliveries run in the test's thread as the Celery task (`apply`), not on the outbox
    thread and a worker, so they see the test's transaction and happen before it asserts."""
    monkeypatch.setattr(services, "send_task", lambda task, *args: task.apply(args=args))
