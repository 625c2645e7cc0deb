"""The bench harness: the load generator counts what a server answered; figures are complete.

No timing assertions: these run on shared CI machines. The server is a tiny asyncio HTTP/1.1
server in a thread that counts what it answers, so the client's tallies can be checked
against it exactly.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from bench.harness import (
    Figure,
    bench_broker_url,
    http_request,
    parse_response,
    redis_url_with_db,
    run_load,
)

ROUTES = {"/ok": 200, "/created": 201, "/missing": 404}


class TinyServer:
    """Answers each keep-alive request by path: fixed-length bodies, chunked for /created."""

    def __init__(self) -> None:
        self.answered: Counter[int] = Counter()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()
        server.close()
        self.loop.run_until_complete(server.wait_closed())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split()[1]
                length = next((int(h.split(":")[1]) for h in lines
                               if h.lower().startswith("content-length:")), 0)
                await reader.readexactly(length)
                status = ROUTES.get(path, 404)
                body = json.dumps({"path": path}).encode()
                if status == 201:  # exercise the chunked parser too
                    half = len(body) // 2
                    payload = b"".join(
                        b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:])
                    ) + b"0\r\n\r\n"
                    headers = b"Transfer-Encoding: chunked\r\n"
                else:
                    payload, headers = body, b"Content-Length: %d\r\n" % len(body)
                self.answered[status] += 1  # before the write: the client may count it next
                writer.write(b"HTTP/1.1 %d X\r\n%s\r\n%s" % (status, headers, payload))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def __enter__(self) -> TinyServer:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@pytest.fixture
def tiny_server() -> Iterator[TinyServer]:
    with TinyServer() as server:
        yield server


def test_load_generator_counts_every_response_by_status(tiny_server):
    host = f"127.0.0.1:{tiny_server.port}"
    body = json.dumps({"title": "x"}).encode()
    # Three connections over a pool of three paths: each connection keeps to one path.
    pool = [http_request("POST", path, host=host, body=body) for path in ROUTES]

    result = run_load("127.0.0.1", tiny_server.port, pool, connections=3, seconds=0.3,
                      warmup=0.1)

    assert result.errors == 0
    assert set(result.statuses) == {200, 201, 404}
    # Everything the server answered was read back: counted in the window, or outside it.
    assert result.statuses + result.outside_window == tiny_server.answered
    assert len(result.latencies) == result.count()
    assert result.rate(200, 201) == (result.statuses[200] + result.statuses[201]) / 0.3
    summary = result.summary()
    assert summary["statuses"].keys() == {"200", "201", "404"}
    assert summary["p50_ms"] is not None


def test_load_generator_reports_refused_connections():
    with TinyServer() as server:
        port = server.port
    # The server is gone: nothing listens on its port any more.
    result = run_load("127.0.0.1", port, [b"GET / HTTP/1.1\r\n\r\n"], connections=2,
                      seconds=0.1, warmup=0)

    assert result.errors == 2
    assert result.count() == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", (200, 40)),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{", None),
        (b"HTTP/1.1 201 Created\r\nContent-Len", None),
        (b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\nHTTP/1.1", (404, 45)),
        (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
         (201, 64)),
        (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n", None),
        (b"HTTP/1.1 204 No Content\r\n\r\n", (204, 27)),
    ],
)
def test_parse_response(raw, expected):
    assert parse_response(raw) == expected


def test_figure_json_line_has_every_key_and_the_ratio():
    figure = Figure(
        name="tasks.create.single", value=900.0, unit="tasks/s",
        baseline_name="bare_view.create.single", baseline_value=1200.0,
        min_value=1000, min_ratio=0.6,
    )

    line = json.loads(figure.to_json())

    assert {"name", "value", "unit", "baseline", "ratio", "target", "met"} <= line.keys()
    assert line["baseline"] == {"name": "bare_view.create.single", "value": 1200.0}
    assert line["ratio"] == 0.75
    assert line["target"] == ">=1000 tasks/s and >=0.6 of baseline"
    assert line["met"] is False  # the ratio is fine, the floor is not


def test_figure_without_a_baseline_value_has_a_null_ratio():
    figure = Figure(name="tasks.create.batch", value=25000.0, unit="tasks/s",
                    baseline_name="postgres.copy", baseline_value=None, min_value=20000,
                    target_note="about 0.2 of COPY")

    line = json.loads(figure.to_json())

    assert line["baseline"] == {"name": "postgres.copy", "value": None}
    assert line["ratio"] is None
    assert line["target"] == ">=20000 tasks/s (about 0.2 of COPY)"
    assert line["met"] is True


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # A path of /0 must not win over the bench database (redis-py ignores a db= keyword
        # argument when the URL has a path, which would purge database 0).
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0?db=15"),
        ("redis://h:1/2?socket_timeout=1&db=2", "redis://h:1/2?socket_timeout=1&db=15"),
        ("unix:///run/redis.sock?db=3", "unix:///run/redis.sock?db=15"),
    ],
)
def test_redis_url_with_db_reaches_the_bench_database(url, expected):
    import redis

    assert redis_url_with_db(url, 15) == expected
    client = redis.Redis.from_url(expected)
    assert client.connection_pool.connection_kwargs["db"] == 15


def test_bench_broker_url_uses_its_own_database():
    assert bench_broker_url("redis://127.0.0.1:6379/0", 15) == "redis://127.0.0.1:6379/15"
    assert bench_broker_url("unix:///run/r.sock?db=0", 15) == (
        "redis+socket:///run/r.sock?virtual_host=15"
    )


@pytest.mark.parametrize(("p99_ms", "met"), [(49.0, True), (50.0, False), (80.0, False)])
def test_a_latency_figure_is_met_only_below_its_ceiling(p99_ms, met):
    figure = Figure(name="tasks.create.single.p99", value=p99_ms, unit="ms", max_value=50)

    line = json.loads(figure.to_json())

    assert line["target"] == "<50 ms"
    assert line["met"] is met
