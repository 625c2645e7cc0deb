"""Every call of the sync client against a live server, and the errors it raises."""

from __future__ import annotations

import time
import uuid

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from taskmanage_client import (
    AuthenticationFailed,
    Client,
    Conflict,
    NotFound,
    PermissionDenied,
    Task,
    ValidationError,
    WaitTimeout,
)

from apps.accounts.services import token_issue
from apps.tasks.models import Task as TaskRow

from .conftest import unit_id

pytestmark = pytest.mark.django_db(transaction=True)


def test_login_gives_a_token_the_client_then_uses(api_url, docs, django_user_model, settings):
    # A name of its own: login counters live in a Redis shared by parallel runs.
    name = f"integrator-{uuid.uuid4().hex[:8]}"
    # Hashed as a server process hashes; the live_server thread (SQLite) reads this
    # process's settings, whose test hasher is another.
    settings.PASSWORD_HASHERS = [*settings.PASSWORD_HASHERS,
                                 "django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    hasher = PBKDF2PasswordHasher()
    django_user_model.objects.create(username=name, is_staff=True,
                                     password=hasher.encode("correct horse", hasher.salt()))
    with Client(api_url) as client:
        token = client.login(name, "correct horse")
        task = client.create_task(title="after login", task_type=docs.key)

    assert token and client.token == token
    assert task.created_by == name


def test_wrong_credentials_are_a_validation_error_on_non_field_errors(api_url):
    with Client(api_url) as client, pytest.raises(ValidationError) as refused:
        client.login(f"nobody-{uuid.uuid4().hex[:8]}", "wrong")

    assert refused.value.status == 400
    assert "non_field_errors" in refused.value.fields
    assert client.token is None


def test_a_created_task_comes_back_typed_and_a_repeated_key_finds_it(service, docs):
    task = service.create_task(title="Summarise", task_type=docs.key, priority="high",
                               payload={"doc": 7}, reference="kb-1", labels=["a", "b"],
                               idempotency_key="order-42")
    again = service.create_task(title="Summarise", task_type=docs.key,
                                idempotency_key="order-42")

    assert isinstance(task, Task) and task.status == "queued"
    assert (task.priority, task.payload, task.reference, task.labels) == (
        "high", {"doc": 7}, "kb-1", ("a", "b"))
    assert task.created_at is not None and task.created_at.tzinfo is not None
    assert task.idempotency_key == "order-42"
    assert again.id == task.id
    assert TaskRow.objects.count() == 1


def test_every_create_carries_a_new_idempotency_key_unless_given(service, docs):
    first = service.create_task(title="same", task_type=docs.key)
    second = service.create_task(title="same", task_type=docs.key)

    assert first.id != second.id
    assert uuid.UUID(first.idempotency_key) != uuid.UUID(second.idempotency_key)


def test_invalid_input_names_each_field(service, docs):
    with pytest.raises(ValidationError) as refused:
        service.create_task(title="", task_type="no-such-type")

    assert set(refused.value.fields) == {"title", "task_type"}
    assert refused.value.code == "invalid"
    assert not TaskRow.objects.exists()


def test_a_batch_creates_every_task_and_reads_them_back(service, docs):
    tasks = service.create_tasks([{"title": "one", "task_type": docs.key},
                                  {"title": "two", "task_type": docs.key, "priority": "low"}])

    assert [(t.title, t.priority, t.status) for t in tasks] == [
        ("one", "normal", "queued"), ("two", "low", "queued")]
    assert all(t.idempotency_key for t in tasks)


def test_a_batch_with_one_bad_item_creates_nothing(service, docs):
    with pytest.raises(ValidationError) as refused:
        service.create_tasks([{"title": "fine", "task_type": docs.key},
                              {"title": "", "task_type": docs.key}])

    assert "tasks" in refused.value.fields
    assert not TaskRow.objects.exists()


def test_listing_follows_pages_lazily_with_filters(service, docs):
    for n in range(5):
        service.create_task(title=f"t{n}", task_type=docs.key, reference="kb-9" if n % 2
                            else "kb-0")

    everything = list(service.list_tasks(task_type=docs.key, page_size=2))
    kb9 = list(service.list_tasks(reference="kb-9", status=["queued", "running"],
                                  page_size=1))
    first = next(iter(service.list_tasks(page_size=2)))

    assert sorted(t.title for t in everything) == ["t0", "t1", "t2", "t3", "t4"]
    assert sorted(t.title for t in kb9) == ["t1", "t3"]
    assert isinstance(first, Task)


def test_a_bad_filter_is_a_validation_error(service):
    with pytest.raises(ValidationError) as refused:
        list(service.list_tasks(priority="whenever"))

    assert "priority" in refused.value.fields


def test_an_unknown_task_is_not_found(service):
    with pytest.raises(NotFound) as missing:
        service.get_task(str(uuid.uuid4()))

    assert missing.value.status == 404 and missing.value.code == "not_found"


def test_another_persons_task_is_not_found_for_an_outsider(service, docs, api_url, mallory):
    task = service.create_task(title="olga's", task_type=docs.key)

    with Client(api_url, token=token_issue(user=mallory)[1]) as outsider, \
            pytest.raises(NotFound):
        outsider.get_task(task.id)


def test_no_token_or_a_bad_one_is_authentication_failed(api_url):
    for token in (None, "not-a-token"):
        with Client(api_url, token=token) as client, pytest.raises(AuthenticationFailed):
            next(iter(client.list_tasks()))


def test_cancel_and_retry_and_a_conflict_with_the_allowed_transitions(service, docs):
    task = service.create_task(title="to cancel", task_type=docs.key)

    with pytest.raises(Conflict) as refused:
        service.retry(task.id)  # a queued task cannot be retried
    cancelled = service.cancel(task.id, reason="not needed")
    retried = service.retry(task.id)

    assert refused.value.current == "queued"
    assert "cancel" in refused.value.allowed and "retry" not in refused.value.allowed
    assert cancelled.status == "cancelled"
    assert retried.status == "queued"


def test_wait_for_returns_the_task_once_terminal_and_times_out_otherwise(service, docs):
    task = service.create_task(title="waited", task_type=docs.key)

    with pytest.raises(TimeoutError) as waited:
        service.wait_for(task.id, timeout=0.3, poll=0.1)
    service.cancel(task.id)
    done = service.wait_for(task.id, timeout=5, poll=0.1)

    assert isinstance(waited.value, WaitTimeout) and waited.value.task.status == "queued"
    assert done.status == "cancelled" and done.is_terminal


def test_a_unit_registers_beats_claims_reports_and_completes(service, docs, api_url):
    uid = unit_id()
    task = service.create_task(title="work", task_type=docs.key, payload={"n": 1})

    registration = service.register_unit(unit_id=uid, unit_type=docs.key, name="Worker",
                                         capacity=2, labels=["gpu"], heartbeat_timeout=60)
    with Client(api_url, token=registration.token) as unit:
        beat = unit.heartbeat(uid, current_load=1, metadata={"cpu": 0.5})
        claimed = unit.claim(uid, max=2)
        unit.progress(task.id, 40, message="reading", estimated_completion="2030-01-01T00:00Z")
        unit.log(task.id, ["plain line", ("warning", "odd page")])
        halfway = service.get_task(task.id)
        done = unit.complete(task.id, {"pages": 3})
        me = unit.get_unit(uid)

    assert registration.created and registration.token.startswith("tmu_")
    assert service.token != registration.token  # the service's own token is unchanged
    assert (registration.unit.id, registration.unit.capacity, registration.unit.labels) == (
        uid, 2, ("gpu",))
    assert beat.status == "online" and beat.cancelled == ()
    assert [t.id for t in claimed] == [task.id] and claimed[0].status == "running"
    assert claimed[0].assignee.kind == "unit" and claimed[0].assignee.id == uid
    assert done.status == "completed" and done.result == {"pages": 3}
    assert me.id == uid and me.tasks == ()
    lines = service.logs(task.id)
    assert [(line.level, line.message) for line in lines] == [
        ("info", "reading"), ("info", "plain line"), ("warning", "odd page")]
    assert service.logs(task.id, attempt=99) == []
    assert halfway.progress == 40 and halfway.estimated_completion.year == 2030


def test_a_unit_fails_and_reports_results_in_one_call(service, docs, unit):
    client, uid = unit
    doomed = service.create_task(title="doomed", task_type=docs.key)
    retried = service.create_task(title="again", task_type=docs.key)
    batch = [service.create_task(title=f"b{n}", task_type=docs.key) for n in range(2)]
    client.claim(uid, max=4)

    final = client.fail(doomed.id, "bad input", retryable=False)
    requeued = client.fail(retried.id, "flaky")
    outcomes = client.report_results(uid, [
        {"task_id": batch[0].id, "outcome": "completed", "result": {"ok": 1}},
        {"task_id": batch[1].id, "outcome": "failed", "error": "no", "retryable": False},
        {"task_id": doomed.id, "outcome": "completed"},
    ])

    assert final.status == "failed" and final.error == "bad input"
    assert requeued.status in ("queued", "scheduled")
    assert [(o.task_id, o.status) for o in outcomes] == [
        (batch[0].id, "completed"), (batch[1].id, "failed"), (doomed.id, "conflict")]
    assert not outcomes[2].ok


def test_completing_a_task_twice_is_a_conflict_naming_its_status(service, docs, unit):
    client, uid = unit
    task = service.create_task(title="once", task_type=docs.key)
    client.claim(uid)
    client.complete(task.id)

    with pytest.raises(Conflict) as refused:
        client.complete(task.id)

    assert refused.value.current == "completed" and refused.value.allowed == []


def test_a_cancelled_task_is_announced_at_the_next_heartbeat(service, docs, unit):
    client, uid = unit
    task = service.create_task(title="stop me", task_type=docs.key)
    client.claim(uid)
    service.cancel(task.id, reason="changed my mind")

    assert client.heartbeat(uid).cancelled == (task.id,)
    assert client.heartbeat(uid).cancelled == ()


def test_a_long_poll_claim_waits_and_returns_empty(unit):
    client, uid = unit
    started = time.monotonic()

    assert client.claim(uid, wait=0.5) == []
    assert time.monotonic() - started < 10


def test_a_unit_cannot_act_for_another_unit_nor_as_a_service(service, docs, unit):
    client, uid = unit
    other = unit_id()
    service.register_unit(unit_id=other, unit_type=docs.key)

    with pytest.raises(PermissionDenied):
        client.heartbeat(other)
    with pytest.raises(PermissionDenied):
        client.claim(other)
    with pytest.raises(PermissionDenied):
        client.create_task(title="not mine to create", task_type=docs.key)


def test_registering_takes_an_admin_or_the_types_secret(api_url, docs, settings, mallory):
    settings.UNIT_REGISTRATION_SECRETS = {docs.key: "s3cret"}
    uid = unit_id()
    with Client(api_url) as anonymous:
        with pytest.raises(PermissionDenied):
            anonymous.register_unit(unit_id=uid, unit_type=docs.key)
        if not _settings_reach_the_server(api_url):
            return  # the server process has its own settings: the refusal is what it shows
        registration = anonymous.register_unit(unit_id=uid, unit_type=docs.key,
                                               registration_secret="s3cret")
    assert registration.unit.id == uid


def _settings_reach_the_server(api_url: str) -> bool:
    # pytest-django's live_server runs in this process (SQLite); served_process does not.
    from django.db import connection

    return connection.vendor != "postgresql"


def test_a_unit_gives_back_a_task_it_holds(service, docs, unit):
    client, uid = unit
    task = service.create_task(title="given back", task_type=docs.key)
    (claimed,) = client.claim(uid, max=1)

    assert client.give_back(uid, [claimed.id], reason="stopping") == [task.id]
    assert client.give_back(uid, [claimed.id]) == []  # not held any more: nothing to give
    again = service.get_task(task.id)
    assert again.status == "queued" and again.assignee is None


def test_drain_and_deregister(service, docs, unit):
    client, uid = unit
    drained = client.drain(uid, reason="deploy")

    with pytest.raises(Conflict) as refused:
        service.deregister(uid)  # still draining, not offline

    assert drained.status == "draining"
    assert refused.value.current == "draining"
    with pytest.raises(NotFound):
        service.deregister(unit_id())


def test_a_unit_drained_again_is_a_conflict_it_can_read(service, docs, unit):
    client, uid = unit
    client.drain(uid)

    with pytest.raises(Conflict) as refused:
        client.drain(uid)

    assert refused.value.current == "draining" and "undrain" in refused.value.allowed


def test_a_drained_unit_undrains_and_a_second_undrain_is_a_conflict(service, docs, unit):
    client, uid = unit
    client.drain(uid)

    back = client.undrain(uid, reason="deploy done")

    assert back.status == "online" and service.get_unit(uid).status == "online"
    with pytest.raises(Conflict) as refused:
        client.undrain(uid)  # a first attempt's 409 is raised, never taken for done
    assert refused.value.current == "online"


def test_request_reaches_endpoints_without_a_method_with_the_same_errors(service, docs):
    response = service.request("GET", f"/api/v1/task-types/{docs.key}")

    assert response.json()["key"] == docs.key
    with pytest.raises(NotFound):
        service.request("GET", "/api/v1/task-types/no-such-type")
