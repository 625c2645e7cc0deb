"""Deliveries: opened after the task's transaction commits, POSTed signed to a real local
receiver, retried with backoff, each attempt recorded; private destinations refused."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from taskmanage_client.webhooks import InvalidSignature, verify

from apps.callbacks import services
from apps.callbacks.models import CallbackDelivery, CallbackSecret
from apps.callbacks.transport import Refused, resolve
from tests.builders import task_in_state

from .flows import cancel, delivery_of, make_due, task_with_callback

pytestmark = pytest.mark.django_db(transaction=False)


def test_a_completed_task_is_posted_signed_with_the_creators_secret(
        alice, receiver, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task = task_in_state("completed", creator=alice, reference="ord-7",
                             extras={"callback_url": receiver.url})

    (req,) = receiver.requests
    secret = CallbackSecret.objects.get(user=alice).secret
    headers = req["headers"]
    verify(secret, headers["X-TaskManage-Timestamp"], req["body"],
           headers["X-TaskManage-Signature"])  # raises if it does not verify
    assert req["path"] == "/hooks/tm?src=test"
    assert headers["X-TaskManage-Signature"].startswith("v1=")
    assert headers["X-TaskManage-Delivery"] == str(delivery_of(task).pk)
    task.refresh_from_db()
    assert req["json"] == {
        "id": str(task.pk), "status": "completed", "result": task.result, "error": "",
        "reference": "ord-7", "finished_at": req["json"]["finished_at"],
        "attempts": task.attempts,
    }
    assert req["json"]["finished_at"].startswith(task.finished_at.strftime("%Y-%m-%dT%H:%M"))
    delivery = delivery_of(task)
    assert (delivery.status, delivery.attempts, delivery.task_status) == (
        "delivered", 1, "completed")
    (attempt,) = delivery.attempt_rows.all()
    assert attempt.status_code == 200 and attempt.error == "" and attempt.duration_ms >= 0


def test_a_signature_under_another_secret_or_an_altered_body_does_not_verify(
        alice, bob, receiver, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task_in_state("cancelled", creator=alice, extras={"callback_url": receiver.url})
    (req,) = receiver.requests
    ts, sig = req["headers"]["X-TaskManage-Timestamp"], req["headers"]["X-TaskManage-Signature"]
    other = services.callback_secret_get(by=_actor(bob)).secret

    with pytest.raises(InvalidSignature):
        verify(other, ts, req["body"], sig)
    with pytest.raises(InvalidSignature):
        verify(CallbackSecret.objects.get(user=alice).secret, ts, req["body"] + b" ", sig)
    with pytest.raises(InvalidSignature):  # a replay, ten minutes later
        verify(CallbackSecret.objects.get(user=alice).secret, ts, req["body"], sig,
               now=int(ts) + 600)


@pytest.mark.parametrize("status", ["failed", "cancelled", "rejected"])
def test_every_terminal_state_is_delivered(alice, receiver, eager_celery, status,
                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task_in_state(status, creator=alice, extras={"callback_url": receiver.url})

    assert [r["json"]["status"] for r in receiver.requests] == [status]


def test_an_open_state_sends_nothing(alice, receiver, eager_celery,
                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task_in_state("running", creator=alice, extras={"callback_url": receiver.url})

    assert receiver.requests == [] and not CallbackDelivery.objects.exists()


def test_a_rolled_back_transition_sends_nothing(alice, receiver, eager_celery,
                                                django_capture_on_commit_callbacks):
    task = task_with_callback(by=alice, url=receiver.url)

    with (django_capture_on_commit_callbacks(execute=True) as callbacks,
          pytest.raises(RuntimeError), transaction.atomic()):
        cancel(task, by=alice)
        raise RuntimeError("the caller's transaction fails after the cancel")

    assert callbacks == [] and receiver.requests == []
    assert not CallbackDelivery.objects.exists()


def test_no_delivery_is_opened_inside_the_tasks_transaction(
        alice, receiver, eager_celery, django_capture_on_commit_callbacks):
    task = task_with_callback(by=alice, url=receiver.url)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        cancel(task, by=alice)
        # The delivery row is written with the transition; nothing is sent before commit.
        assert delivery_of(task).status == "pending" and receiver.requests == []
    with django_capture_on_commit_callbacks(execute=True):  # now it commits
        for callback in callbacks:
            callback()

    assert delivery_of(task).status == "delivered" and len(receiver.requests) == 1


def test_a_500_is_retried_with_backoff_until_it_is_delivered(
        alice, receiver, eager_celery, django_capture_on_commit_callbacks):
    receiver.codes = [500, 503]
    with django_capture_on_commit_callbacks(execute=True):
        task = task_in_state("cancelled", creator=alice, extras={"callback_url": receiver.url})
    delivery = delivery_of(task)
    delivery.refresh_from_db()
    first_wait = delivery.next_attempt_at - timezone.now()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert timedelta(seconds=4) < first_wait <= timedelta(seconds=10)  # 10 s, jittered

    assert services.delivery_attempt(delivery_id=delivery.pk) is None  # not due yet
    make_due(delivery)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    second_wait = delivery.next_attempt_at - timezone.now()
    assert timedelta(seconds=9) < second_wait <= timedelta(seconds=20)  # doubled
    make_due(delivery)
    services.delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert [(a.number, a.status_code, a.error) for a in delivery.attempt_rows.all()] == [
        (1, 500, "HTTP 500"), (2, 503, "HTTP 503"), (3, 200, "")]
    assert len({r["headers"]["X-TaskManage-Delivery"] for r in receiver.requests}) == 1


def test_a_refused_connection_is_retried_and_fails_after_the_last_attempt(
        alice, closed_port_url, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task = task_in_state("cancelled", creator=alice, extras={"callback_url": closed_port_url})
    delivery = delivery_of(task)
    for _ in range(2):
        make_due(delivery)
        services.delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    errors = [a.error for a in delivery.attempt_rows.all()]
    assert len(errors) == 3 and all("ConnectionRefused" in e for e in errors)
    assert all(a.status_code is None for a in delivery.attempt_rows.all())


def test_a_redirect_is_not_followed(alice, receiver, eager_celery,
                                    django_capture_on_commit_callbacks):
    receiver.codes = [302]
    with django_capture_on_commit_callbacks(execute=True):
        task = task_in_state("cancelled", creator=alice, extras={"callback_url": receiver.url})

    (attempt,) = delivery_of(task).attempt_rows.all()
    assert (attempt.status_code, attempt.error) == (302, "redirect not followed")
    assert delivery_of(task).status == "pending"


def test_the_sweep_sends_what_is_due_and_leaves_the_rest(
        alice, receiver, eager_celery, django_capture_on_commit_callbacks):
    receiver.codes = [500]
    with django_capture_on_commit_callbacks(execute=True):
        task = task_in_state("cancelled", creator=alice, extras={"callback_url": receiver.url})
    with django_capture_on_commit_callbacks(execute=True):
        assert services.deliveries_send_due() == 0  # still backing off
    make_due(delivery_of(task))

    with django_capture_on_commit_callbacks(execute=True):
        assert services.deliveries_send_due() == 1

    assert delivery_of(task).status == "delivered" and len(receiver.requests) == 2


def test_replay_sends_the_same_message_again_as_a_new_delivery(
        alice, receiver, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task = task_in_state("cancelled", creator=alice, extras={"callback_url": receiver.url})
    original = delivery_of(task)

    with django_capture_on_commit_callbacks(execute=True):
        (fresh,) = services.deliveries_replay(delivery_ids=[original.pk], by=_actor(alice))

    fresh.refresh_from_db()
    assert (fresh.replay_of_id, fresh.status, fresh.attempts) == (original.pk, "delivered", 1)
    first, second = receiver.requests
    assert first["body"] == second["body"]
    assert second["headers"]["X-TaskManage-Delivery"] == str(fresh.pk)


def test_a_rotated_secret_signs_the_next_attempt(alice, receiver, eager_celery,
                                                 django_capture_on_commit_callbacks):
    receiver.codes = [500]
    with django_capture_on_commit_callbacks(execute=True):
        task = task_in_state("cancelled", creator=alice, extras={"callback_url": receiver.url})
    new = services.callback_secret_rotate(by=_actor(alice)).secret
    make_due(delivery_of(task))

    services.delivery_attempt(delivery_id=delivery_of(task).pk)

    req = receiver.requests[-1]
    verify(new, req["headers"]["X-TaskManage-Timestamp"], req["body"],
           req["headers"]["X-TaskManage-Signature"])


# --- private destinations ----------------------------------------------------------------------
@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.7", "169.254.169.254", "::1",
                                  "192.168.1.1", "localhost"])
def test_private_loopback_and_link_local_destinations_are_refused(host):
    with pytest.raises(Refused):
        resolve(host, 80, allow_private=False)


def test_a_name_resolving_to_loopback_is_refused_at_delivery_and_not_retried(
        alice, settings, eager_celery, django_capture_on_commit_callbacks):
    settings.CALLBACK_ALLOW_PRIVATE = False
    with django_capture_on_commit_callbacks(execute=True):
        task = task_in_state("cancelled", creator=alice,
                             extras={"callback_url": "http://localhost:9/hook"})

    delivery = delivery_of(task)
    (attempt,) = delivery.attempt_rows.all()
    assert attempt.error.startswith("refused: localhost resolves to")
    assert attempt.status_code is None
    assert (delivery.status, delivery.attempts) == ("failed", 1)


def test_an_address_allowed_at_create_is_checked_again_at_delivery(
        alice, receiver, eager_celery, settings, django_capture_on_commit_callbacks):
    task = task_with_callback(by=alice, url=receiver.url)  # allowed then
    settings.CALLBACK_ALLOW_PRIVATE = False  # not any more

    with django_capture_on_commit_callbacks(execute=True):
        cancel(task, by=alice)

    assert receiver.requests == []
    assert delivery_of(task).attempt_rows.get().error.startswith("refused: 127.0.0.1")


def test_public_addresses_pass_the_check():
    assert resolve("93.184.216.34", 443, allow_private=False) == ["93.184.216.34"]


def test_backoff_doubles_is_capped_and_jittered(settings):
    settings.CALLBACK_BACKOFF_SECONDS = 10.0
    settings.CALLBACK_BACKOFF_MAX_SECONDS = 60.0
    waits = {n: [services.backoff_seconds(attempts=n) for _ in range(50)] for n in (1, 2, 3, 9)}

    assert all(5 <= w <= 10 for w in waits[1]) and all(10 <= w <= 20 for w in waits[2])
    assert all(20 <= w <= 40 for w in waits[3]) and all(30 <= w <= 60 for w in waits[9])
    assert len(set(waits[1])) > 1


def _actor(user):
    from apps.core.actors import Actor

    return Actor.for_user(user)


def test_the_body_is_json_with_the_final_state(alice, receiver, eager_celery,
                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task = task_in_state("failed", creator=alice, error="disk full",
                             extras={"callback_url": receiver.url})

    body = json.loads(delivery_of(task).body)
    assert body["status"] == "failed" and body["error"] == "disk full"
    assert body["id"] == str(task.pk)
