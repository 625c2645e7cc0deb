"""Retries, backoff and idempotency, through a fault-injecting proxy in front of a live server
(tests/client/proxy.py), and against a server that is not listening yet."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from taskmanage_client import Client, RateLimited, ServerError, TransportError, ValidationError
from taskmanage_client._transport import retry_after

from apps.tasks.models import Task as TaskRow

from .conftest import free_port
from .proxy import SLOW_SECONDS, FaultProxy

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def proxy(api_url):
    with FaultProxy(api_url) as running:
        yield running


def client_via(proxy: FaultProxy, token: str, **options) -> Client:
    options = {"retries": 4, "backoff": 0.01, "max_backoff": 0.05, **options}
    return Client(proxy.url, token=token, **options)


def test_a_503_with_and_without_retry_after_is_retried_until_it_goes_through(
        proxy, admin_token, docs):
    proxy.fail_next("503", "503").fail_next("503", retry_after="1")

    with client_via(proxy, admin_token, max_backoff=5) as client:
        started = time.monotonic()
        task = client.create_task(title="through", task_type=docs.key)
        took = time.monotonic() - started

    creates = proxy.requests_to("POST", "/tasks")
    assert [s.answer for s in creates] == ["503", "503", "503", "forwarded"]
    assert took >= 1.0  # the Retry-After of the third answer was honoured
    assert TaskRow.objects.get().pk.hex == task.id.replace("-", "")


def test_retry_after_is_capped_by_max_backoff(proxy, admin_token, docs):
    proxy.fail_next("503", retry_after="120")

    with client_via(proxy, admin_token, max_backoff=0.2) as client:
        started = time.monotonic()
        client.create_task(title="not two minutes", task_type=docs.key)

    assert time.monotonic() - started < 5


def test_a_retried_create_whose_answer_was_lost_makes_one_task(proxy, admin_token, docs):
    proxy.fail_next("lost")  # the server creates it; the answer never arrives

    with client_via(proxy, admin_token) as client:
        task = client.create_task(title="exactly once", task_type=docs.key)

    creates = proxy.requests_to("POST", "/tasks")
    assert [s.answer for s in creates] == ["lost", "forwarded"]
    keys = {s.json()["idempotency_key"] for s in creates}
    assert len(keys) == 1 and task.idempotency_key in keys
    assert TaskRow.objects.filter(title="exactly once").count() == 1


def test_a_retried_batch_whose_answer_was_lost_makes_each_task_once(proxy, admin_token, docs):
    proxy.fail_next("lost")

    with client_via(proxy, admin_token) as client:
        tasks = client.create_tasks([{"title": "a", "task_type": docs.key},
                                     {"title": "b", "task_type": docs.key}])

    assert sorted(t.title for t in tasks) == ["a", "b"]
    assert TaskRow.objects.count() == 2


def test_a_complete_whose_answer_was_lost_is_a_success_on_retry(proxy, service, docs, unit):
    unit_client, uid = unit
    task = service.create_task(title="report once", task_type=docs.key)
    unit_client.claim(uid)
    proxy.fail_next("lost")

    with client_via(proxy, unit_client.token) as client:
        done = client.complete(task.id, {"answer": 42})

    completes = proxy.requests_to("POST", "/complete")
    assert [s.answer for s in completes] == ["lost", "forwarded"]  # the second: a 409
    assert done.status == "completed" and done.result == {"answer": 42}


def test_a_fail_whose_answer_was_lost_is_a_success_on_retry(proxy, service, docs, unit):
    unit_client, uid = unit
    task = service.create_task(title="fail once", task_type=docs.key)
    unit_client.claim(uid)
    proxy.fail_next("lost")

    with client_via(proxy, unit_client.token) as client:
        failed = client.fail(task.id, "broken", retryable=False)

    assert failed.status == "failed" and failed.error == "broken"
    assert len(proxy.requests_to("POST", "/fail")) == 2


def test_a_conflict_on_the_first_attempt_is_still_raised(proxy, service, docs, unit):
    from taskmanage_client import Conflict

    unit_client, uid = unit
    task = service.create_task(title="not claimed", task_type=docs.key)
    service.cancel(task.id)

    with client_via(proxy, unit_client.token) as client, pytest.raises(Conflict):
        client.complete(task.id)


@pytest.mark.parametrize("refusal", ["503", "429"])
def test_a_conflict_after_a_refusal_that_did_nothing_is_still_raised(proxy, service, docs,
                                                                   refusal):
    from taskmanage_client import Conflict

    task = service.create_task(title="cancelled by someone else", task_type=docs.key)
    service.cancel(task.id, reason="not needed")
    proxy.fail_next(refusal)  # the first cancel never reached the server

    with client_via(proxy, service.token) as client, pytest.raises(Conflict) as refused:
        client.cancel(task.id)

    assert refused.value.current == "cancelled"
    assert [s.answer for s in proxy.requests_to("POST", "/cancel")] == [refusal, "forwarded"]


def test_a_conflict_after_a_lost_answer_is_taken_for_done(proxy, service, docs):
    task = service.create_task(title="cancel once", task_type=docs.key)
    proxy.fail_next("lost")  # the server cancels it; the answer never arrives

    with client_via(proxy, service.token) as client:
        cancelled = client.cancel(task.id)

    assert cancelled.status == "cancelled"
    assert [s.answer for s in proxy.requests_to("POST", "/cancel")] == ["lost", "forwarded"]


def test_a_claim_whose_answer_was_lost_is_not_repeated(proxy, service, docs, unit):
    unit_client, uid = unit
    service.create_task(title="leased", task_type=docs.key)
    proxy.fail_next("lost")

    with client_via(proxy, unit_client.token) as client, pytest.raises(TransportError):
        client.claim(uid)

    assert len(proxy.requests_to("POST", "/claim")) == 1


def test_a_claim_refused_with_503_is_repeated(proxy, service, docs, unit):
    unit_client, uid = unit
    task = service.create_task(title="leased", task_type=docs.key)
    proxy.fail_next("503")

    with client_via(proxy, unit_client.token) as client:
        claimed = client.claim(uid)

    assert [t.id for t in claimed] == [task.id]


def test_a_400_is_never_retried(proxy, admin_token):
    with client_via(proxy, admin_token) as client, pytest.raises(ValidationError):
        client.create_task(title="", task_type="none")

    assert len(proxy.requests_to("POST", "/tasks")) == 1


def test_a_502_to_a_get_is_retried_and_a_500_to_a_post_is_not(proxy, service, admin_token,
                                                               docs):
    task = service.create_task(title="read me", task_type=docs.key)
    proxy.fail_next("502", "500")

    with client_via(proxy, admin_token) as client:
        assert client.get_task(task.id).title == "read me"
        proxy.fail_next("500")
        with pytest.raises(ServerError) as failed:
            client.create_task(title="not retried", task_type=docs.key)

    assert failed.value.status == 500
    assert len(proxy.requests_to("GET", task.id)) == 3
    assert len(proxy.requests_to("POST", "/tasks")) == 1


def test_rate_limited_after_the_retries_carries_retry_after(proxy, admin_token, docs):
    proxy.fail_next("429", "429", "429", retry_after="0")

    with client_via(proxy, admin_token, retries=2) as client, \
            pytest.raises(RateLimited) as limited:
        client.create_task(title="too many", task_type=docs.key)

    assert limited.value.retry_after == 0 and limited.value.status == 429
    assert not TaskRow.objects.exists()


def test_a_server_not_listening_yet_is_waited_for(api_url, admin_token, docs):
    port = free_port()
    started = threading.Event()

    def start_later():
        time.sleep(0.5)
        proxies.append(FaultProxy(api_url, port=port).__enter__())
        started.set()

    proxies: list[FaultProxy] = []
    threading.Thread(target=start_later, daemon=True).start()
    try:
        with Client(f"http://127.0.0.1:{port}", token=admin_token, retries=12, backoff=0.1,
                    max_backoff=0.5) as client:
            task = client.create_task(title="after the start", task_type=docs.key)
    finally:
        started.wait(5)
        for proxy in proxies:
            proxy.__exit__(None, None, None)

    assert task.title == "after the start"
    assert TaskRow.objects.count() == 1


def test_a_server_that_never_answers_is_a_transport_error_after_the_retries(admin_token):
    with Client(f"http://127.0.0.1:{free_port()}", token=admin_token, retries=2,
                backoff=0.01) as client, pytest.raises(TransportError) as failed:
        client.get_task("00000000-0000-0000-0000-000000000000")

    assert "3 attempt(s)" in str(failed.value) and failed.value.status is None


def test_a_long_poll_claim_reads_longer_than_the_clients_timeout(proxy, unit):
    unit_client, uid = unit
    proxy.fail_next("slow", "slow")  # each answer comes SLOW_SECONDS late

    with client_via(proxy, unit_client.token, timeout=0.5, retries=0) as client:
        claimed = client.claim(uid, wait=SLOW_SECONDS)  # read timeout: wait + a margin
        with pytest.raises(TransportError) as timed_out:
            client.get_unit(uid)  # the client's own 0.5 s

    assert claimed == []
    assert "ReadTimeout" in str(timed_out.value)


def test_retry_after_reads_seconds_and_http_dates():
    def answer(value: str) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": value})

    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)

    assert retry_after(answer("7")) == 7
    assert 25 < retry_after(answer(later)) <= 30
    assert retry_after(answer(past)) == 0
    assert retry_after(answer("soon")) is None
    assert retry_after(httpx.Response(503)) is None
