"""A frozen Redis (it accepts connections and answers nothing) never holds a request.

The test runs its own `redis-server` on a free port, never the shared one, points every Redis
client at it (broker, cache, counters, channel layer), and freezes it with SIGSTOP. Whatever
happens, it is thawed and killed on the way out, and a watchdog bounds the whole test.
"""

from __future__ import annotations

import base64
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from channels_redis.core import RedisChannelLayer
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from apps.core.outbox import celery_messages
from apps.dashboard.consumers import sign_outs
from apps.tasks import services as task_services
from apps.tasks import tasks as celery_tasks
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus
from taskmanage import embedded_redis
from taskmanage.celery import app as celery_app
from tests.builders import api_client, make_staff, make_task_type, make_user
from tests.concurrency import race

S = TaskStatus
TEST_BUDGET_SECONDS = 60  # the watchdog thaws and kills the server after this, whatever happens
ANSWER_WITHIN_SECONDS = 3.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def own_redis() -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    server = subprocess.Popen(
        [embedded_redis.redis_executable(), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    probe = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while True:
        try:
            probe.ping()
            break
        except redis.RedisError:
            assert time.monotonic() < deadline, "own redis-server never answered"
            time.sleep(0.05)
    watchdog = threading.Timer(TEST_BUDGET_SECONDS, _thaw_and_kill, (server,))
    watchdog.daemon = True
    watchdog.start()
    try:
        yield server, url
    finally:
        watchdog.cancel()
        _thaw_and_kill(server)


def _thaw_and_kill(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGCONT)
        server.kill()
        server.wait()


@contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Celery publishing to `url` (its pools are rebuilt from the new address)."""
    before = celery_app.conf.broker_url

    def rebuild(broker: str) -> None:
        celery_app.pool.force_close_all()
        celery_app._after_fork()  # drops the connection and producer pools, as in a new process
        celery_app.conf.broker_url = broker

    rebuild(f"{url}/0")
    try:
        yield
    finally:
        rebuild(before)


@pytest.fixture
def everything_on(own_redis, settings) -> Iterator[tuple[subprocess.Popen, str]]:
    server, url = own_redis
    settings.REDIS_URL = f"{url}/0"
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": f"{url}/1"}}
    settings.COUNTERS_REDIS_URL = f"{url}/2"
    settings.CHANNEL_LAYERS = {"default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": {
        "hosts": [{**settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0],
                   "address": f"{url}/3"}]}}}
    with celery_broker(url):
        yield server, url
    celery_messages.flush(timeout=5)


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


@pytest.mark.django_db(transaction=True)
def test_a_frozen_redis_holds_no_request_and_the_sweep_delivers_the_work_later(olga, everything_on):
    server, url = everything_on
    started = time.monotonic()
    admin = olga
    ann = make_staff("ann", capacity=20)
    kind = make_task_type("review")
    client = api_client(admin)
    warm = client.post("/api/v1/tasks", {"title": "before", "task_type": "review"})
    assert warm.status_code == 201  # every client now holds a connection to the live server
    assert celery_messages.flush(timeout=5)

    server.send_signal(signal.SIGSTOP)
    try:
        def work(i: int):
            if i == 10:
                return timed(lambda: api_client(admin).get("/api/v1/staff"))
            if i == 11:
                return timed(lambda: api_client().get("/health/database"))
            if i == 12:
                return timed(lambda: api_client().get("/health/redis"))
            return timed(lambda: api_client(admin).post(
                "/api/v1/tasks", {"title": f"frozen {i}", "task_type": kind.key}))

        outcomes = race(13, work) if connection.vendor == "postgresql" else [
            # The in-memory SQLite test database takes one writer at a time: one after another.
            work(i) for i in range(13)]
    finally:
        server.send_signal(signal.SIGCONT)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    statuses = [response.status_code for response, _ in outcomes]
    slowest = max(elapsed for _, elapsed in outcomes)
    assert statuses == [201] * 10 + [200, 200, 503], [r.content[:200] for r, _ in outcomes]
    assert slowest < ANSWER_WITHIN_SECONDS, [round(e, 2) for _, e in outcomes]
    frozen = Task.objects.filter(title__startswith="frozen ")
    assert frozen.count() == 10 and set(frozen.values_list("status", flat=True)) == {S.QUEUED}

    # Thawed: whatever the outbox held is sent or dropped, and the sweep announces the queued
    # work again, through the broker, to the dispatcher that assigns it.
    assert celery_messages.flush(timeout=10)
    broker = redis.Redis.from_url(f"{url}/0")
    broker.delete("critical")  # dispatch goes to the critical queue (CELERY_TASK_ROUTES)
    assert task_services.tasks_redrive_queued(older_than_seconds=0) == 11
    assert celery_messages.flush(timeout=10)
    messages = [json.loads(m) for m in broker.lrange("critical", 0, -1)]
    assert {m["headers"]["task"] for m in messages} == {"apps.tasks.tasks.dispatch_tasks"}
    ids = [i for m in messages for i in json.loads(base64.b64decode(m["body"]))[0][0]]
    assert {str(pk) for pk in frozen.values_list("pk", flat=True)} <= set(ids)
    assert celery_tasks.dispatch_tasks(ids) == 11
    assert set(frozen.values_list("status", flat=True)) == {S.ASSIGNED}
    assert set(frozen.values_list("assignee_user", flat=True)) == {ann.user_id}
    assert time.monotonic() - started < TEST_BUDGET_SECONDS


@pytest.mark.django_db(transaction=True)
def test_limits_fail_open_at_once_while_the_counters_redis_is_frozen(olga, everything_on, settings):
    server, _ = everything_on
    settings.REDIS_SOCKET_TIMEOUT = 2.0  # a wait no busy test machine can be mistaken for
    admin = olga
    assert api_client(admin).get("/api/v1/staff").status_code == 200  # counters connected
    server.send_signal(signal.SIGSTOP)
    try:
        first, first_took = timed(lambda: api_client(admin).get("/api/v1/staff"))
        then = [timed(lambda: api_client(admin).get("/api/v1/staff")) for _ in range(5)]
    finally:
        server.send_signal(signal.SIGCONT)

    assert first.status_code == 200 and 2.0 <= first_took < 3.5  # waited once, then let in
    assert [r.status_code for r, _ in then] == [200] * 5
    assert max(took for _, took in then) < 1.0  # no second wait for the same frozen Redis


@pytest.mark.django_db(transaction=True)
def test_a_login_waits_for_a_frozen_counters_redis_once_not_once_per_counter(
        everything_on, settings):
    server, _ = everything_on
    settings.REDIS_SOCKET_TIMEOUT = 2.0
    ann = make_user("ann")
    ann.set_password("a-long-enough-pass")
    ann.save()
    login = {"username": "ann", "password": "a-long-enough-pass"}
    assert APIClient().post("/api/v1/auth/token", login, format="json").status_code == 200
    server.send_signal(signal.SIGSTOP)
    try:
        # Three counters, the known-client flag read and then written: each one asked Redis
        # and waited out the socket timeout in turn (6 s) before the gate was shared.
        first, first_took = timed(
            lambda: APIClient().post("/api/v1/auth/token", login, format="json"))
        second, second_took = timed(
            lambda: APIClient().post("/api/v1/auth/token", login, format="json"))
    finally:
        server.send_signal(signal.SIGCONT)

    assert first.status_code == 200 and 2.0 <= first_took < 3.5
    assert second.status_code == 200 and second_took < 1.0


@pytest.mark.django_db(transaction=True)
def test_signing_out_does_not_wait_for_a_frozen_channel_layer(alice, everything_on):
    server, _ = everything_on
    browser = Client()
    browser.force_login(alice)
    assert browser.get("/dashboard/").status_code == 200
    server.send_signal(signal.SIGSTOP)
    try:
        # The sign-out tells the session's live sockets to close: through an outbox now,
        # where it waited out the channel layer's socket timeout (6 s) inside the request.
        signed_out, took = timed(lambda: browser.post("/logout/"))
    finally:
        server.send_signal(signal.SIGCONT)

    assert signed_out.status_code == 302 and took < ANSWER_WITHIN_SECONDS, took
    assert browser.get("/dashboard/").status_code == 302  # the session is gone
    assert sign_outs.flush(timeout=10)


def test_every_redis_client_waits_briefly_and_publishes_are_bounded():
    conf = celery_app.conf
    timeouts = {"socket_timeout": django_settings.REDIS_SOCKET_TIMEOUT,
                "socket_connect_timeout": django_settings.REDIS_CONNECT_TIMEOUT}
    assert timeouts["socket_timeout"] <= 5 and timeouts["socket_connect_timeout"] <= 5

    assert conf.broker_transport_options.items() >= timeouts.items()
    assert conf.broker_connection_timeout == django_settings.REDIS_CONNECT_TIMEOUT
    assert conf.broker_connection_retry_on_startup is True
    assert not conf.task_publish_retry or conf.task_publish_retry_policy["max_retries"] <= 1
    assert django_settings.CACHES["default"]["OPTIONS"].items() >= timeouts.items()
    layer = django_settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]
    assert layer["socket_connect_timeout"] == timeouts["socket_connect_timeout"]
    # Its reads include the consumers' blocking pop for messages, and wait no longer than
    # that plus the socket timeout; publishes go through the outbox, off the request path.
    assert layer["socket_timeout"] == RedisChannelLayer.brpop_timeout + timeouts["socket_timeout"]
