"""Benchmark harness: figures, areas, the server under test and a lean HTTP load generator.

`python -m bench <area>|all` (`make bench`) runs every *area*: a module of `bench.areas`
exposing `AREA = "<name>"` and `run(ctx) -> Iterable[Figure]`. Each figure is printed as one
JSON line: a measured value, the baseline it is judged against (measured in the same run, on
the same machine) and whether it meets its target.

The server under test is a real `uvicorn` with the production worker layout, started here on a
free port and always stopped. It runs with bench.settings: the product's settings plus the
baseline views under /bench/, which the product itself neither installs nor routes. The load
generator runs in this process on raw asyncio sockets (HTTP/1.1 keep-alive, precomputed
request bytes): on a 2-core machine it shares the CPU with the server and PostgreSQL, so it
must cost as little as possible per request.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
import pkgutil
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from taskmanage.serving import APPLICATION

# --- figures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measured number, its baseline and its target (a floor and/or a share of baseline)."""

    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline_value: float | None = None
    min_value: float | None = None
    min_ratio: float | None = None
    max_value: float | None = None  # for figures where lower is better (latency)
    target_note: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.baseline_value:  # no baseline (e.g. SQLite) or a baseline of zero
            return None
        return self.value / self.baseline_value

    @property
    def target(self) -> str:
        parts = []
        if self.min_value is not None:
            parts.append(f">={self.min_value:g} {self.unit}")
        if self.max_value is not None:
            parts.append(f"<{self.max_value:g} {self.unit}")
        if self.min_ratio is not None:
            parts.append(f">={self.min_ratio:g} of baseline")
        text = " and ".join(parts) or "none"
        return f"{text} ({self.target_note})" if self.target_note else text

    @property
    def met(self) -> bool:
        # A ratio that cannot be computed (baseline skipped) is not held against the figure.
        ok = self.min_value is None or self.value >= self.min_value
        ok = ok and (self.max_value is None or self.value < self.max_value)
        ratio = self.ratio
        if self.min_ratio is not None and ratio is not None:
            ok = ok and ratio >= self.min_ratio
        return ok

    def as_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        baseline = None
        if self.baseline_name is not None:
            value = None if self.baseline_value is None else round(self.baseline_value, 1)
            baseline = {"name": self.baseline_name, "value": value}
        return {
            "name": self.name,
            "value": round(self.value, 1),
            "unit": self.unit,
            "baseline": baseline,
            "ratio": None if ratio is None else round(ratio, 3),
            "target": self.target,
            "met": self.met,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=False)


# --- areas ----------------------------------------------------------------------------------

Area = Callable[["BenchContext"], Iterable[Figure]]


def discover_areas() -> dict[str, Area]:
    """Every module of `bench.areas` that declares AREA and run, by area name."""
    from . import areas

    found: dict[str, Area] = {}
    for info in pkgutil.iter_modules(areas.__path__, prefix=f"{areas.__name__}."):
        module = importlib.import_module(info.name)
        name, run = getattr(module, "AREA", None), getattr(module, "run", None)
        if isinstance(name, str) and callable(run):
            found[name] = run
    return found


def included_areas() -> set[str]:
    """Areas another area runs as part of itself (its INCLUDES): `all` runs them once."""
    from . import areas

    included: set[str] = set()
    for info in pkgutil.iter_modules(areas.__path__, prefix=f"{areas.__name__}."):
        included.update(getattr(importlib.import_module(info.name), "INCLUDES", ()))
    return included


# --- HTTP load generator --------------------------------------------------------------------


def http_request(
    method: str, path: str, *, host: str, body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """The exact bytes of one HTTP/1.1 keep-alive request (JSON in, JSON out)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
    if body or method in ("POST", "PUT", "PATCH"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_response(buf: bytes | bytearray) -> tuple[int, int] | None:
    """(status, length) of the first complete response in `buf`, or None while incomplete.

    Only what a keep-alive client needs: the status and where the response ends
    (Content-Length, or chunked transfer encoding).
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).lower()
    status = int(head[9:12])
    body_start = end + 4
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        eol = head.find(b"\r\n", at + 2)
        total = body_start + int(head[at + 17 : eol if eol >= 0 else len(head)])
        return (status, total) if len(buf) >= total else None
    if b"\r\ntransfer-encoding: chunked" in head:
        total = _chunked_end(buf, body_start)
        return None if total is None else (status, total)
    if status < 200 or status in (204, 304):
        return status, body_start
    raise ValueError("response has neither Content-Length nor chunked encoding")


def _chunked_end(buf: bytes | bytearray, pos: int) -> int | None:
    """Where a chunked body starting at `pos` ends (no trailers), or None if incomplete."""
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
        pos = eol + 2 + size + 2
        if len(buf) < pos:
            return None
        if size == 0:
            return pos


@dataclass
class LoadResult:
    """What a load run saw inside its measurement window (warm-up and stragglers excluded)."""

    seconds: float
    connections: int
    statuses: Counter[int]
    latencies: list[float]  # seconds, one per counted response
    outside_window: Counter[int]  # responses during warm-up or after the deadline, by status
    errors: int  # connections lost or refused
    client_cpu: float  # CPU seconds this process spent / wall seconds (share of one core)

    def count(self, *statuses: int) -> int:
        if not statuses:
            return sum(self.statuses.values())
        return sum(self.statuses[s] for s in statuses)

    def rate(self, *statuses: int) -> float:
        return self.count(*statuses) / self.seconds if self.seconds else 0.0

    def percentile_ms(self, p: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def summary(self) -> dict[str, Any]:
        def ms(p: float) -> float | None:
            value = self.percentile_ms(p)
            return None if value is None else round(value, 2)

        return {
            "requests_per_s": round(self.rate(), 1),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "p50_ms": ms(50), "p90_ms": ms(90), "p99_ms": ms(99),
            "outside_window": {str(k): v for k, v in sorted(self.outside_window.items())},
            "connections": self.connections, "errors": self.errors,
            "client_cpu": round(self.client_cpu, 3),
        }


class _Window:
    """Shared clock and tallies of one run; connections write into it directly (no locks:
    everything runs on one event loop)."""

    def __init__(self, pool: Sequence[bytes], start: float, warmup: float, seconds: float):
        self.pool, self.size = pool, len(pool)
        self.measure_from, self.stop_at = start + warmup, start + warmup + seconds
        self.statuses: Counter[int] = Counter()
        self.latencies: list[float] = []
        self.outside: Counter[int] = Counter()
        self.errors = 0


class _Connection(asyncio.Protocol):
    """One keep-alive connection: send, wait for the whole response, send the next.

    Callbacks rather than coroutines: a response is parsed and the next request written in
    the same `data_received` call, with no task switch in between.
    """

    def __init__(self, window: _Window, index: int, step: int, done: asyncio.Future[None]):
        self.w, self.index, self.step, self.done = window, index, step, done
        self.buf = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        now = time.perf_counter()
        if now >= self.w.stop_at:
            self._finish()
            return
        # Each connection walks the pool with its own offset, so bodies (unique titles)
        # are spread across connections.
        request = self.w.pool[self.index % self.w.size]
        self.index += self.step
        self.sent_at = now
        self.transport.write(request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        parsed = parse_response(self.buf)
        if parsed is None:
            return
        status, length = parsed
        del self.buf[:length]
        now = time.perf_counter()
        w = self.w
        if w.measure_from <= now < w.stop_at:
            w.statuses[status] += 1
            w.latencies.append(now - self.sent_at)
        else:
            w.outside[status] += 1
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.w.errors += 1
            self.done.set_result(None)

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)
        self.transport.close()  # type: ignore[union-attr]


async def _load(
    host: str, port: int, pool: Sequence[bytes], connections: int, seconds: float,
    warmup: float, stagger: float,
) -> LoadResult:
    loop = asyncio.get_running_loop()
    window = _Window(pool, time.perf_counter(), warmup, seconds)
    done: list[asyncio.Future[None]] = []
    transports: list[asyncio.BaseTransport] = []
    for i in range(connections):
        future: asyncio.Future[None] = loop.create_future()
        try:
            transport, _ = await loop.create_connection(
                lambda i=i, f=future: _Connection(window, i, connections, f), host, port
            )
        except OSError:
            window.errors += 1
            continue
        done.append(future)
        transports.append(transport)
        # Connections opened in one burst are all accepted by whichever server worker wakes
        # first; spaced out, an idle worker (not holding its GIL) tends to win the next one.
        await asyncio.sleep(stagger)
    if done:
        # Stragglers answer after the deadline; they are waited for (so the server is idle
        # before the next measurement) but not counted.
        await asyncio.wait(done, timeout=warmup + seconds + 60)
    for transport in transports:
        if not transport.is_closing():  # a server that never answered
            window.errors += 1
            transport.abort()
    return LoadResult(
        seconds=seconds, connections=connections, statuses=window.statuses,
        latencies=window.latencies, outside_window=window.outside, errors=window.errors,
        client_cpu=0.0,
    )


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop  # cheaper per callback than the default loop


def run_load(
    host: str, port: int, pool: Sequence[bytes], *, connections: int = 16,
    seconds: float = 3.0, warmup: float = 0.5, stagger: float = 0.02,
) -> LoadResult:
    """Send requests from `pool` over `connections` keep-alive connections for
    `warmup + seconds`, counting responses by status inside the last `seconds`.

    Connections open `stagger` seconds apart, within the warm-up."""
    if not pool:
        raise ValueError("empty request pool")
    cpu, wall = time.process_time(), time.perf_counter()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        result = runner.run(_load(host, port, pool, connections, seconds, warmup, stagger))
    result.client_cpu = (time.process_time() - cpu) / (time.perf_counter() - wall)
    return result


# --- CPU accounting (Linux /proc; empty elsewhere) --------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from each process's parent id (field 4 of /proc/*/stat)."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / _CLOCK_TICKS, sum(values) / _CLOCK_TICKS


@dataclass
class CpuMeter:
    """Where the CPU went during a measurement: each server process and the whole machine,
    in cores (1.0 = one core busy for the whole interval)."""

    pids: Sequence[int]
    _start: tuple[float, dict[int, float], tuple[float, float]] = field(init=False)

    def __post_init__(self) -> None:
        self._start = (time.perf_counter(), self._procs(), _machine_busy())

    def _procs(self) -> dict[int, float]:
        return {pid: _proc_cpu(pid) for pid in self.pids}

    def read(self) -> dict[str, Any]:
        wall = time.perf_counter() - self._start[0]
        procs, (busy, _) = self._procs(), _machine_busy()
        per_proc = [(procs[p] - self._start[1][p]) / wall for p in self.pids]
        machine = (busy - self._start[2][0]) / wall
        return {
            "server_workers_cores": [round(c, 2) for c in per_proc],
            "machine_busy_cores": round(machine, 2),
            # PostgreSQL, Redis, this process, and whatever else shares the machine.
            "rest_of_machine_cores": round(machine - sum(per_proc), 2),
            "machine_cores": os.cpu_count(),
        }


# --- the server under test ------------------------------------------------------------------

READY_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
PR_SET_PDEATHSIG = 1


# "deployed" is taskmanage.asgi as `manage.py serve` runs it (Django's WSGI handler on
# WEB_THREADS threads per process). "django-asgi" is Django's own ASGI handler, the design
# before it: kept one flag away so the difference can be measured again in one run.
SERVINGS = ("deployed", "django-asgi")


@dataclass(frozen=True)
class ServerOptions:
    workers: int = 2
    # auto = uvloop + httptools when installed. Against asyncio + h11 they made no
    # measurable difference to task creation (2026-11: Django's own work dominates);
    # --loop/--http keep the comparison one flag away.
    loop: str = "auto"
    http: str = "auto"
    serving: str = "deployed"
    threads: int | None = None  # WEB_THREADS for "deployed"; None: the settings' default

    def resolved(self) -> ServerOptions:
        loop = self.loop
        if loop == "auto":
            loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
        http = self.http
        if http == "auto":
            http = "httptools" if importlib.util.find_spec("httptools") else "h11"
        threads = self.threads
        if threads is None:
            from django.conf import settings

            threads = settings.WEB_THREADS
        return replace(self, loop=loop, http=http, threads=threads)

    def argv(self, host: str, port: int) -> list[str]:
        from taskmanage.serving import web_argv

        argv = web_argv(host=host, port=port, workers=self.workers, graceful_seconds=5,
                        access_log=False)
        if self.serving == "django-asgi":
            at = argv.index(APPLICATION)
            argv[at:at + 1] = ["django.core.asgi:get_asgi_application", "--factory"]
        return [*argv, "--loop", self.loop, "--http", self.http, "--log-level", "warning"]

    def env(self) -> dict[str, str]:
        return {"WEB_THREADS": str(self.threads)} if self.threads else {}


@dataclass
class Server:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    options: ServerOptions

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        """One request on a fresh connection, for smoke checks before a load run."""
        raw = http_request(method, path, host=self.hostport, body=body,
                           headers={**(headers or {}), "Connection": "close"})
        with socket.create_connection((self.host, self.port), timeout=30) as sock:
            sock.sendall(raw)
            buf = bytearray()
            while (parsed := parse_response(buf)) is None:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection mid-response")
                buf += chunk
        status, length = parsed
        return status, bytes(buf[buf.find(b"\r\n\r\n") + 4 : length])

    def load(self, pool: Sequence[bytes], **kwargs: Any) -> tuple[LoadResult, dict[str, Any]]:
        """A load run against this server, with what it cost meanwhile: CPU per worker and
        for the machine, and how many database sessions were opened."""
        load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        sessions = db_sessions()
        meter = CpuMeter(self.worker_pids())
        with DbConnectionSampler() as connections:
            result = run_load(self.host, self.port, pool, **kwargs)
        usage = meter.read()
        after = db_sessions()
        if sessions is not None and after is not None:
            usage["db_sessions_opened"] = after - sessions
        usage["db_connections_peak"] = connections.peak
        # Worker CPU per answered request: unlike the rate, it barely moves when other
        # processes compete for the cores, so runs on a busy machine stay comparable.
        rate = result.rate()
        if rate:
            cores = sum(usage["server_workers_cores"])
            usage["server_cpu_ms_per_response"] = round(cores / rate * 1000, 2)
        usage["loadavg_1m_before"] = load_before
        return result, usage

    def worker_pids(self) -> list[int]:
        """The processes serving requests: uvicorn's workers, or uvicorn itself with one."""
        workers = [p for p in _children(self.process.pid) if b"resource_tracker" not in _cmdline(p)]
        return workers or [self.process.pid]

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def db_sessions() -> int | None:
    """Sessions PostgreSQL has opened on our database so far (PostgreSQL 14+), else None.

    Its growth during a run tells whether the server reuses connections or opens one per
    request (the latter costs a backend fork and a login each time).
    """
    from django.db import DatabaseError, connection

    if connection.vendor != "postgresql":
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # else a cached, stale value
            cursor.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            )
            row = cursor.fetchone()
    except DatabaseError:  # PostgreSQL before 14 has no `sessions`
        return None
    return None if row is None else int(row[0])


class DbConnectionSampler(threading.Thread):
    """Peak number of connections to our database while a load runs (PostgreSQL only).

    A server that leaks connections shows here long before PostgreSQL refuses clients
    ("too many clients already") and the errors show up as 500s.
    """

    INTERVAL_SECONDS = 0.25

    def __init__(self) -> None:
        super().__init__(name="bench-db-sampler", daemon=True)
        self.peak: int | None = None
        self._done = threading.Event()
        self._connected = threading.Event()

    def run(self) -> None:
        from django.db import DatabaseError, connection

        try:
            if connection.vendor != "postgresql":
                return
            while True:
                with connection.cursor() as cursor:  # this thread's own connection
                    cursor.execute("SELECT count(*) FROM pg_stat_activity "
                                   "WHERE datname = current_database()")
                    count = cursor.fetchone()[0]
                self.peak = max(self.peak or 0, count)
                self._connected.set()
                if self._done.wait(self.INTERVAL_SECONDS):
                    return
        except DatabaseError:
            return
        finally:
            self._connected.set()
            connection.close()

    def __enter__(self) -> DbConnectionSampler:
        self.start()
        self._connected.wait(10)  # connected before the load, so never refused by it
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.join(10)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    # If the bench is SIGKILLed it cannot stop the server; the kernel then sends SIGTERM.
    import ctypes

    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def bench_broker_url(redis_url: str, db: int) -> str:
    """The Celery broker URL on logical database `db` of the same Redis server."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}?virtual_host={db}"
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


# Messages the server under test enqueues for Celery go to this Redis database, which the
# harness empties at the end: nothing of a benchmark is left for a real worker to chew on.
BENCH_BROKER_DB = 15


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    from django.conf import settings

    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),  # throwaway: the bench server signs nothing
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "API_THROTTLE_USER": "1000000/min",
        "CELERY_BROKER_URL": bench_broker_url(settings.REDIS_URL, BENCH_BROKER_DB),
        # The product plus the baseline views (/bench/minimal, /bench/bare-create).
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra or {})
    return env


def _wait_ready(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {server.process.returncode}:\n"
                               f"{server.log_tail()}")
        try:
            status, _ = server.request("GET", "/health")
        except OSError:
            status = 0
        if status == 200:
            return
        time.sleep(0.2)
    raise RuntimeError(f"uvicorn did not answer /health in time:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (master and workers), SIGKILL it if it lingers."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        with suppress(subprocess.TimeoutExpired):
            process.wait(STOP_GRACE_SECONDS)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # workers that outlived their master, if any
    process.wait()


@contextmanager
def uvicorn_server(
    options: ServerOptions, *, env: Mapping[str, str] | None = None, host: str = "127.0.0.1"
) -> Iterator[Server]:
    """The web server as deployed (taskmanage.serving) on a free port until the block exits."""
    from django.conf import settings

    options = options.resolved()
    port = free_port(host)
    argv = options.argv(host, port)
    fd, name = tempfile.mkstemp(prefix="bench-uvicorn-", suffix=".log")
    log_path = Path(name)
    with os.fdopen(fd, "wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            argv, cwd=settings.BASE_DIR, env=server_env({**options.env(), **(env or {})}),
            stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT,
            process_group=0,  # its own group: stopped as a whole, never hit by our Ctrl-C
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    server = Server(host=host, port=port, process=process, log_path=log_path, options=options)
    try:
        _wait_ready(server, time.monotonic() + READY_TIMEOUT_SECONDS)
        yield server
    finally:
        _stop(process)
        _show_server_errors(server)
        log_path.unlink(missing_ok=True)


def _show_server_errors(server: Server) -> None:
    """Copy the server's log to stderr when it logged an error (a 500 is a number to explain,
    and the log file is deleted with the server)."""
    tail = server.log_tail(200)
    if "Traceback" in tail or " ERROR " in tail:
        print(f"bench: the server logged errors:\n{tail}", file=sys.stderr)


def redis_url_with_db(redis_url: str, db: int) -> str:
    """`redis_url` on logical database `db`, for redis-py.

    The `db` query parameter wins over the URL's path in redis-py, and a `db=` keyword
    argument loses to both: passing `db=` next to a URL ending in /0 would reach database 0.
    """
    parts = urlsplit(redis_url)
    query = [q for q in parts.query.split("&") if q and not q.startswith("db=")]
    query_string = "&".join([*query, f"db={db}"])
    if parts.scheme == "unix":  # urlunsplit would drop the empty host: unix:/path
        return f"unix://{parts.path}?{query_string}"
    return urlunsplit(parts._replace(query=query_string))


def purge_bench_broker() -> None:
    """Drop the Celery messages the server under test queued (see BENCH_BROKER_DB)."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(redis_url_with_db(settings.REDIS_URL, BENCH_BROKER_DB))
    try:
        if client.connection_pool.connection_kwargs.get("db") != BENCH_BROKER_DB:
            raise RuntimeError("refusing to purge a Redis database that is not the bench's")
        # The queues (lists) only: kombu's bindings stay, so a bench server of another run
        # that is still publishing keeps routing its messages instead of failing.
        queues = [key for key in client.scan_iter(count=1000) if client.type(key) == b"list"]
        if queues:
            client.delete(*queues)
    finally:
        client.close()


# --- PostgreSQL alone: pgbench ---------------------------------------------------------------


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    latency_ms: float  # mean, as pgbench reports it
    clients: int


def pgbench(script: str, *, clients: int, seconds: float) -> PgbenchResult | None:
    """Transactions/s PostgreSQL runs of `script` (pgbench's custom script language) over
    `clients` connections for `seconds`: the database's own floor for that work, with no
    Python anywhere. None when the database is not PostgreSQL or pgbench is not installed.

    pgbench is C, one thread per core: on a 2-core machine it competes with PostgreSQL for the
    CPU as a web server would, which is the comparison wanted.
    """
    import shutil

    from django.db import connection

    executable = shutil.which("pgbench")
    if connection.vendor != "postgresql" or executable is None:
        return None
    db = connection.settings_dict
    env = {**os.environ, "PGHOST": db["HOST"] or "", "PGPORT": str(db["PORT"] or ""),
           "PGUSER": db["USER"] or "", "PGDATABASE": db["NAME"]}
    if db["PASSWORD"]:
        env["PGPASSWORD"] = db["PASSWORD"]
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="bench-pgbench-") as file:
        file.write(script)
        file.flush()
        done = subprocess.run(
            [executable, "--no-vacuum", "--file", file.name, "--client", str(clients),
             "--jobs", str(min(clients, os.cpu_count() or 1)),
             "--time", str(max(1, round(seconds)))],
            env=env, capture_output=True, text=True, timeout=seconds + 60,
        )
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return PgbenchResult(tps=_pgbench_value(done.stdout, "tps = "),
                         latency_ms=_pgbench_value(done.stdout, "latency average = "),
                         clients=clients)


def _pgbench_value(output: str, label: str) -> float:
    at = output.index(label) + len(label)
    return float(output[at:].split()[0])


# --- the context areas run in ---------------------------------------------------------------

# Each run has its own API user, `bench-api-<nonce>`: two runs on one database never delete
# each other's user or rows. A user left by a killed run is removed by a later run once its
# token has expired (PRINCIPAL_TTL).
PRINCIPAL_PREFIX = "bench-api-"
PRINCIPAL_TTL_HOURS = 2


@dataclass(frozen=True)
class Principal:
    """The bench's own API user and token."""

    user: Any
    token: str

    @property
    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class BenchContext:
    """What areas share in one `bench` run: the duration, one server, one API user, and a
    stack of cleanups that always runs (last registered first)."""

    seconds: float
    stack: ExitStack
    server_options: ServerOptions = field(default_factory=ServerOptions)
    log: Callable[[str], None] = lambda message: print(message, file=sys.stderr)
    _server: Server | None = None
    _principal: Principal | None = None

    def on_cleanup(self, func: Callable[[], object]) -> None:
        self.stack.callback(func)

    def server(self) -> Server:
        if self._server is None:
            self.log(f"starting uvicorn ({self.server_options.resolved()})")
            # Registered first, so it runs last: once the server has stopped producing.
            self.stack.callback(purge_bench_broker)
            self._server = self.stack.enter_context(uvicorn_server(self.server_options))
            self.log(f"uvicorn ready on {self._server.hostport}")
        return self._server

    def principal(self) -> Principal:
        """This run's API user and token (created on first use, deleted at the end).

        Areas delete the rows the user created before it goes: a registered cleanup runs
        before this one, which was registered earlier.
        """
        if self._principal is None:
            _delete_stale_principals()
            self._principal = _create_principal()
            user = self._principal.user
            self.on_cleanup(lambda: type(user).objects.filter(pk=user.pk).delete())
        return self._principal


def _create_principal() -> Principal:
    from datetime import timedelta

    from django.contrib.auth import get_user_model

    from apps.accounts.services import token_issue

    user = get_user_model().objects.create(
        username=f"{PRINCIPAL_PREFIX}{unique_nonce()}", email="bench@example.invalid"
    )
    user.set_unusable_password()
    user.save(update_fields=["password"])
    _, raw = token_issue(user=user, name="bench", ttl=timedelta(hours=PRINCIPAL_TTL_HOURS))
    return Principal(user=user, token=raw)


def _delete_stale_principals() -> int:
    """Users of earlier runs that were killed before their cleanup (no active token left).

    Rows they created and that reference them with SET_NULL stay behind without an owner;
    areas recognise theirs by other marks (e.g. a bench task type) and delete them.
    """
    from django.contrib.auth import get_user_model
    from django.db.models import Exists, OuterRef

    from apps.accounts.models import ApiToken

    active = ApiToken.objects.active().filter(user=OuterRef("pk"))
    stale = get_user_model().objects.filter(username__startswith=PRINCIPAL_PREFIX).exclude(
        Exists(active)
    )
    return stale.delete()[0]


def ensure_migrated() -> bool:
    """Apply pending migrations to the configured database; True if there were any."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return False
    call_command("migrate", interactive=False, verbosity=0)
    return True


def unique_nonce() -> str:
    """A short per-run tag, so titles from different runs never look alike."""
    return secrets.token_hex(4)
