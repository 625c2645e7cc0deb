"""A fault-injecting HTTP proxy for the retry tests: a thread in the test process that answers
the next requests with the faults it is given, then forwards to the real server.

Faults, one per request in order: `503` (optionally with a Retry-After value), `429`, `502`,
`drop` (the connection closes before the request is forwarded: nothing done) and
`lost` (forwarded and done, then the connection closes before the answer: the answer is lost),
`slow` (forwarded after SLOW_SECONDS, as a server holding a long-poll claim would answer).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SLOW_SECONDS = 1.5


@dataclass
class Seen:
    method: str
    path: str
    body: bytes
    answer: str  # the fault played, or "forwarded"

    def json(self):
        return json.loads(self.body) if self.body else None


class FaultProxy:
    def __init__(self, upstream: str, *, port: int = 0) -> None:
        self.upstream = urlsplit(upstream)
        self.faults: list[tuple[str, str | None]] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, *faults: str, retry_after: str | None = None) -> FaultProxy:
        with self._lock:
            self.faults += [(fault, retry_after) for fault in faults]
        return self

    def requests_to(self, method: str, path_part: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and path_part in s.path]

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_fault(self) -> tuple[str, str | None] | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy._next_fault()
                name = fault[0] if fault else "forwarded"
                proxy.seen.append(Seen(self.command, self.path, body, name))
                if name == "drop":
                    return self._hang_up()
                if name == "slow":
                    time.sleep(SLOW_SECONDS)
                elif fault and name != "lost":
                    return self._refuse(int(name), fault[1])
                status, headers, answer = self._forward(body)
                if name == "lost":
                    return self._hang_up()
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("transfer-encoding", "connection",
                                           "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def _hang_up(self) -> None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            def _refuse(self, status: int, retry_after: str | None) -> None:
                answer = json.dumps({"detail": "injected", "code": "injected"}).encode()
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def _forward(self, body: bytes):
                upstream = http.client.HTTPConnection(proxy.upstream.hostname,
                                                      proxy.upstream.port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("connection", "keep-alive")}
                    upstream.request(self.command, self.path, body=body or None,
                                     headers=headers)
                    response = upstream.getresponse()
                    return response.status, response.getheaders(), response.read()
                finally:
                    upstream.close()

        return Handler
