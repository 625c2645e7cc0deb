"""The reference unit's handlers, run as the runner runs them (no server needed)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from taskmanage_client.models import Task
from taskmanage_client.unit import Fatal, Job, Registry, Retryable, UnitSettings, handlers
from taskmanage_client.unit.handlers import MemoryReporter, run_handler
from taskmanage_client.unit.http_handler import ALLOW_PRIVATE_ENV


def job(handler_name: str, payload: dict, **settings) -> Job:
    task = Task(id=str(uuid.uuid4()), task_type="docs", payload=payload)
    return Job(task=task, settings=UnitSettings(**settings), reporter=MemoryReporter())


def run(name: str, payload: dict, **settings) -> tuple[str, object]:
    return run_handler(handlers.get(name), job(name, payload, **settings))


# --- the registry ----------------------------------------------------------------------------
def test_a_decorated_function_is_found_by_its_name():
    registry = Registry()

    @registry.handler("resize")
    def resize(job):
        return {"width": job.payload["width"]}

    assert registry.get("resize") is resize
    assert "resize" in registry and registry.names() == ["resize"]


def test_the_handler_is_the_payloads_then_the_mapped_then_the_task_types():
    def task(payload):
        return Task(id="1", task_type="document_processing", payload=payload)

    mapped = {"document_processing": "sleep"}
    assert handlers.resolve(task({"handler": "noop"}), mapped) == "noop"
    assert handlers.resolve(task({}), mapped) == "sleep"
    assert handlers.resolve(task({}), {}) == "document_processing"


def test_a_handlers_exceptions_become_failures_retryable_unless_fatal():
    def broken(job):
        raise ValueError("bad width")

    def refused(job):
        raise Fatal("payload.width: too large")

    def later(job):
        raise Retryable("the disk is full")

    assert run_handler(broken, job("x", {})) == ("failed", ("ValueError: bad width", True))
    assert run_handler(refused, job("x", {})) == ("failed", ("payload.width: too large", False))
    assert run_handler(later, job("x", {})) == ("failed", ("the disk is full", True))


# --- noop and sleep --------------------------------------------------------------------------
def test_noop_answers_ok_at_once():
    assert run("noop", {}) == ("completed", {"ok": True})


def test_sleep_sleeps_its_seconds_reporting_progress():
    sleeping = job("sleep", {"seconds": 0.4})
    started = time.monotonic()

    outcome = run_handler(handlers.get("sleep"), sleeping)

    assert outcome == ("completed", {"slept": 0.4})
    assert time.monotonic() - started >= 0.4
    figures = [pct for pct, _ in sleeping.reporter.progresses]
    assert figures == sorted(figures) and figures[-1] == 100 and len(figures) >= 3
    etas = [eta for eta in sleeping.reporter.etas if eta is not None]
    assert etas and all(abs((eta - etas[0]).total_seconds()) < 0.3 for eta in etas)


def test_sleep_stops_at_once_when_cancelled():
    sleeping = job("sleep", {"seconds": 30})
    threading.Timer(0.2, sleeping.cancelled.set).start()
    started = time.monotonic()

    assert run_handler(handlers.get("sleep"), sleeping) == ("cancelled", None)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("seconds", ["ten", -1, True, 10**9])
def test_sleep_refuses_a_bad_seconds_for_good_naming_it(seconds):
    outcome, (error, retryable) = run("sleep", {"seconds": seconds})

    assert outcome == "failed" and not retryable and "payload.seconds" in error


# --- http_request ----------------------------------------------------------------------------
class Routes(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the standard library's name)
        if self.path == "/slow":
            time.sleep(2)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        body = b"x" * 200_000 if self.path == "/big" else b"hello " + self.headers["Host"].encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Set-Cookie", "session=secret")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = f"{self.headers['Content-Type']} {self.headers['X-Trace']} {body.decode()}"
        self.send_response(201)
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def local_http() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Routes)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/", "http://localhost/", "http://192.168.0.1:8080/", "http://[::ffff:127.0.0.1]/",
    "http://0.0.0.0/",
])
def test_http_request_refuses_private_loopback_and_link_local_addresses(url, monkeypatch):
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)

    outcome, (error, retryable) = run("http_request", {"url": url})

    assert outcome == "failed" and not retryable
    assert "payload.url" in error and "--allow-private-http" in error


def test_http_request_refuses_a_host_when_any_of_its_addresses_is_private(monkeypatch):
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 80))
               for address in ("93.184.215.14", "10.0.0.7")]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)

    outcome, (error, retryable) = run("http_request", {"url": "http://rebinding.example/"})

    assert outcome == "failed" and not retryable and "10.0.0.7 (private)" in error


def test_http_request_reaches_a_private_address_when_allowed(local_http):
    outcome, result = run("http_request", {"url": f"{local_http}/hello"},
                          allow_private_http=True)

    assert outcome == "completed"
    assert result["status"] == 200 and not result["truncated"]
    assert result["body"] == f"hello {local_http.removeprefix('http://')}"  # the Host asked for
    assert result["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert "set-cookie" not in result["headers"]
    assert result["elapsed"] >= 0


def test_http_request_sends_its_method_headers_and_json_body(local_http):
    outcome, result = run("http_request", {
        "url": f"{local_http}/echo", "method": "post", "headers": {"X-Trace": "t-1"},
        "body": {"n": 1}}, allow_private_http=True)

    assert outcome == "completed" and result["status"] == 201
    assert result["body"] == 'application/json t-1 {"n":1}'


def test_http_request_is_allowed_private_addresses_by_the_environment(local_http, monkeypatch):
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")

    assert run("http_request", {"url": f"{local_http}/hello"})[1]["status"] == 200


def test_http_request_stops_reading_at_the_size_limit(local_http):
    outcome, result = run("http_request", {"url": f"{local_http}/big"},
                          allow_private_http=True, http_max_bytes=1000)

    assert outcome == "completed" and result["truncated"] and len(result["body"]) == 1000


def test_http_request_times_out_retryably(local_http):
    started = time.monotonic()

    outcome, (error, retryable) = run("http_request", {"url": f"{local_http}/slow",
                                                       "timeout": 0.3}, allow_private_http=True)

    assert outcome == "failed" and retryable and "timed out" in error
    assert time.monotonic() - started < 1.5


def test_http_request_does_not_follow_a_redirect(local_http):
    outcome, result = run("http_request", {"url": f"{local_http}/redirect"},
                          allow_private_http=True)

    assert outcome == "completed" and result["status"] == 302
    assert result["headers"]["location"] == "http://169.254.169.254/latest/meta-data/"


@pytest.mark.parametrize(("payload", "field"), [
    ({}, "payload.url"), ({"url": "ftp://example.com/"}, "payload.url"),
    ({"url": "http://example.com/", "method": "BREW"}, "payload.method"),
    ({"url": "http://example.com/", "headers": {"X": 1}}, "payload.headers"),
    ({"url": "http://example.com/", "timeout": 3600}, "payload.timeout"),
])
def test_http_request_refuses_a_bad_payload_for_good_naming_the_field(payload, field):
    outcome, (error, retryable) = run("http_request", payload)

    assert outcome == "failed" and not retryable and error.startswith(field)


# --- shell -----------------------------------------------------------------------------------
def test_shell_is_refused_unless_enabled():
    outcome, (error, retryable) = run("shell", {"argv": ["echo", "hi"]})

    assert outcome == "failed" and not retryable and "--enable-shell" in error


def test_shell_runs_an_argv_and_returns_its_exit_code_and_output():
    outcome, result = run("shell", {"argv": ["sh", "-c", "echo out; echo err >&2"]},
                          enable_shell=True)

    assert outcome == "completed"
    assert result == {"exit_code": 0, "stdout": "out\n", "stderr": "err\n"}


def test_shell_keeps_only_the_tail_of_long_output():
    outcome, result = run("shell", {"argv": ["sh", "-c", "seq 1 100000"]}, enable_shell=True,
                          output_tail_bytes=20)

    assert outcome == "completed" and result["stdout"].endswith("99999\n100000\n")
    assert len(result["stdout"]) == 20


def test_shell_fails_for_good_on_a_non_zero_exit_logging_the_output():
    failing = job("shell", {"argv": ["sh", "-c", "echo no such file >&2; exit 3"]},
                  enable_shell=True)

    assert run_handler(handlers.get("shell"), failing) == ("failed", ("exit code 3", False))
    assert ("warning", "stderr: no such file\n") in failing.reporter.lines


def test_shell_kills_a_command_past_its_timeout_retryably():
    started = time.monotonic()

    outcome, (error, retryable) = run("shell", {"argv": ["sleep", "30"], "timeout": 0.3},
                                      enable_shell=True)

    assert outcome == "failed" and retryable and "timed out" in error
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("argv", ["echo hi; rm -rf /", [], ["echo", 1]])
def test_shell_takes_only_a_list_of_strings(argv):
    outcome, (error, retryable) = run("shell", {"argv": argv}, enable_shell=True)

    assert outcome == "failed" and not retryable and error.startswith("payload.argv")
