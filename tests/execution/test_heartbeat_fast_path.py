"""Heartbeats answered on the event loop, and everything unusual left to the API.

The fast path is driven directly, in front of a stand-in for the API that records what
reaches it: a plain heartbeat must not reach it, anything else must, untouched.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from django.db import connection

from apps.execution import beats, fastpath
from apps.execution.models import ExecutionUnit
from tests.execution.conftest import register

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="the token lookup runs on another thread's connection"),
]


@pytest.fixture(autouse=True)
def forget_known_tokens():
    fastpath._known.clear()
    fastpath._clients.clear()
    yield
    fastpath._known.clear()
    fastpath._clients.clear()


def beat(path: str, token: str, body: bytes) -> tuple[int, dict | None, list[bytes]]:
    """(status, JSON answer, the bodies the API stand-in received)."""
    reached: list[bytes] = []

    async def api(scope, receive, send):
        message = await receive()
        reached.append(message["body"])
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    scope = {"type": "http", "method": "POST", "path": path,
             "headers": [(b"authorization", f"Bearer {token}".encode())]}
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive():
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    async def run():
        await fastpath.HeartbeatFastPath(api)(scope, receive, send)
        for client in fastpath._clients.values():
            await client.aclose()

    asyncio.run(run())
    status = sent[0]["status"]
    payload = sent[1].get("body", b"")
    return status, (json.loads(payload) if status == 200 else None), reached


def test_a_plain_heartbeat_is_answered_without_the_api(docs):
    unit, token = register("worker-001")

    status, answer, reached = beat("/api/v1/execution-units/worker-001/heartbeat", token,
                                   b'{"current_load": 2, "metadata": {"cpu": 0.3}}')

    assert (status, answer, reached) == (200, {"status": "online", "cancelled": []}, [])
    latest = beats.latest()[unit.pk]
    assert (latest.load, latest.metrics) == (2, {"cpu": 0.3})
    assert ExecutionUnit.objects.get(pk=unit.pk).last_heartbeat_at is None  # Redis only


def test_cancel_flags_come_back_on_the_fast_path_too(docs):
    unit, token = register("worker-001")
    beats.flag_cancelled(unit.pk, ["0b4d8e52-8c1a-4f5e-9a39-1d2f3c4b5a69"])

    _, answer, _ = beat("/api/v1/execution-units/worker-001/heartbeat", token, b"{}")

    assert answer["cancelled"] == ["0b4d8e52-8c1a-4f5e-9a39-1d2f3c4b5a69"]


@pytest.mark.parametrize("body", [
    b'{"current_load": -1}', b'{"current_load": true}', b'{"current_load": "3"}',
    b'{"metadata": []}', b'{"extra": 1}', b"[1]", b"not json",
    b'{"metadata": {"note": "\\u0000"}}', b'{"metadata": {"s": "\\ud800"}}',
    b'{"metadata": ' + b'{"a": ' * 20 + b"1" + b"}" * 20 + b"}",
    b'{"metadata": {"log": "' + b"x" * 9000 + b'"}}',
])
def test_anything_unusual_in_the_body_goes_to_the_api_untouched(docs, body):
    _, token = register("worker-001")

    status, _, reached = beat("/api/v1/execution-units/worker-001/heartbeat", token, body)

    assert (status, reached) == (418, [body])


def test_another_units_id_an_unknown_token_or_an_offline_unit_go_to_the_api(docs):
    register("worker-001")
    _, token = register("worker-002")
    offline, offline_token = register("worker-003")
    ExecutionUnit.objects.filter(pk=offline.pk).update(status="offline")

    assert beat("/api/v1/execution-units/worker-001/heartbeat", token, b"{}")[0] == 418
    assert beat("/api/v1/execution-units/worker-002/heartbeat", "tmu_nobody", b"{}")[0] == 418
    assert beat("/api/v1/execution-units/worker-003/heartbeat", offline_token,
                b"{}")[0] == 418


def test_without_redis_the_heartbeat_goes_to_the_api(settings, docs):
    _, token = register("worker-001")
    settings.UNITS_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    status, _, reached = beat("/api/v1/execution-units/worker-001/heartbeat", token, b"{}")

    assert (status, reached) == (418, [b"{}"])


def test_a_heartbeat_on_the_fast_path_is_counted_by_unit_type(docs):
    from apps.execution.metrics import HEARTBEATS

    register("worker-001")
    counted = HEARTBEATS.labels("docs")._value.get()

    status, _, reached = beat("/api/v1/execution-units/worker-001/heartbeat",
                              register("worker-001")[1], b'{"current_load": 0}')

    assert (status, reached) == (200, [])
    assert HEARTBEATS.labels("docs")._value.get() == counted + 1
