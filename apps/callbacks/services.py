"""Callbacks: every write of this app. Keyword-only, typed, each in one transaction.

A delivery is opened after the task's transaction commits (never inside it: a rolled-back
transition sends nothing), attempted by a thin Celery task, and retried by a sweep once its
backoff has passed (no countdowns on the broker, as for delayed tasks).
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.exceptions import InvalidInput
from apps.core.outbox import send_task
from apps.tasks.models import Task
from apps.tasks.states import TERMINAL_STATES

from . import transport
from .metrics import ATTEMPTS
from .models import (
    CallbackAttempt,
    CallbackDelivery,
    CallbackSecret,
    DeliveryStatus,
    TaskCallback,
)

SWEEP_BATCH = 500


# --- on create (apps.tasks.extensions calls this inside the create transaction) -------------
def callback_url_write(pairs: Sequence[tuple[Task, str]], *, by: Actor) -> None:
    """Keep the callback URL of each new task given one; its deliveries are signed with the
    creator's secret, made now if the creator has none yet."""
    for task, url in pairs:
        task.callback_url_known = url  # the create's answer reads it without a query
    pairs = [(task, url) for task, url in pairs if url is not None]
    if not pairs:
        return
    if by.user is None:
        raise InvalidInput("Only a user's tasks carry callbacks (the secret is a user's).",
                           fields={"callback_url": ["Only a user's tasks carry callbacks."]})
    now = timezone.now()
    TaskCallback.objects.bulk_create([
        TaskCallback(task_id=task.pk, url=url, owner_id=by.user.pk, created_at=now)
        for task, url in pairs
    ])
    _secret_for(by.user, now=now)


def _secret_for(user, *, now: datetime) -> CallbackSecret:
    row, _ = CallbackSecret.objects.get_or_create(
        user=user, defaults={"secret": _new_secret(), "created_at": now, "rotated_at": now})
    return row


def _new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


# --- the caller's secret ---------------------------------------------------------------------
def callback_secret_get(*, by: Actor) -> CallbackSecret:
    """The caller's secret, made on first use."""
    with transaction.atomic():
        return _secret_for(by.user, now=timezone.now())


def callback_secret_rotate(*, by: Actor) -> CallbackSecret:
    """A new secret for the caller; the old one signs nothing from now on."""
    now = timezone.now()
    with transaction.atomic():
        row = _secret_for(by.user, now=now)
        row = CallbackSecret.objects.select_for_update().get(pk=row.pk)
        row.secret, row.rotated_at = _new_secret(), now
        row.save(update_fields=["secret", "rotated_at"])
    return row


# --- deliveries ------------------------------------------------------------------------------
def deliveries_open(tasks: Sequence[Task], by: Actor) -> None:
    """A listener of the tasks' transaction (apps.tasks.holding.on_written): the tasks that
    just ended and have a callback get their deliveries in this transaction, in one query and
    one insert for the batch (a rolled-back transition leaves none); they are sent once it
    commits. Opened after commit instead, a failure there would lose them for good (the
    sweep only retries rows that exist) and a unit's batch of results paid a transaction per
    task."""
    ended = {t.pk: t for t in tasks if t.status in TERMINAL_STATES}
    if not ended:
        return
    urls = list(TaskCallback.objects.filter(task_id__in=list(ended)).values_list("task_id",
                                                                                 "url"))
    if not urls:
        return
    now = timezone.now()
    rows = CallbackDelivery.objects.bulk_create([
        CallbackDelivery(task_id=task_id, url=url, body=_body(ended[task_id]),
                         task_status=ended[task_id].status, status=DeliveryStatus.PENDING,
                         next_attempt_at=now, created_at=now)
        for task_id, url in urls])
    _send_on_commit([row.pk for row in rows])


def _body(task: Task) -> str:
    return json.dumps({
        "id": str(task.pk), "status": task.status, "result": task.result,
        "error": task.error, "reference": task.reference,
        "finished_at": task.finished_at, "attempts": task.attempts,
    }, cls=DjangoJSONEncoder, separators=(",", ":"))


def _send_on_commit(ids: list[int]) -> None:
    # From the outbox thread, after commit: a slow Redis never holds the caller, and a lost
    # message only means the sweep sends the delivery a little later.
    from .tasks import deliver_callback  # the Celery task calls back into this module

    def send():
        for pk in ids:
            send_task(deliver_callback, pk)

    transaction.on_commit(send)


def delivery_attempt(*, delivery_id: int) -> CallbackAttempt | None:
    """One attempt, if the delivery is pending and due (else None: another worker has it, or
    it is done). The POST runs outside any transaction, under a lease on the row."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.CALLBACK_TIMEOUT_SECONDS * 2 + 5)
    claimed = CallbackDelivery.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        pk=delivery_id, status=DeliveryStatus.PENDING,
    ).update(next_attempt_at=lease)
    if not claimed:
        return None
    delivery = CallbackDelivery.objects.select_related("task__callback__owner").get(
        pk=delivery_id)
    outcome = _post(delivery)
    return _record(delivery, outcome, started_at=now)


def _post(delivery: CallbackDelivery) -> transport.Outcome:
    secret = _owner_secret(delivery)
    if secret is None:
        return transport.Outcome(None, "no secret: the task's creator is gone", 0)
    body = delivery.body.encode()
    timestamp = int(timezone.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "TaskManage-Callbacks/1",
        "X-TaskManage-Delivery": str(delivery.pk),
        "X-TaskManage-Timestamp": str(timestamp),
        "X-TaskManage-Signature": transport.sign(secret, timestamp, body),
    }
    return transport.post(delivery.url, body, headers,
                          timeout=settings.CALLBACK_TIMEOUT_SECONDS,
                          allow_private=settings.CALLBACK_ALLOW_PRIVATE,
                          pinned=settings.CALLBACK_RESOLVE)


def _owner_secret(delivery: CallbackDelivery) -> str | None:
    callback = getattr(delivery.task, "callback", None)
    owner_id = getattr(callback, "owner_id", None)
    if owner_id is None:
        return None
    return CallbackSecret.objects.filter(user_id=owner_id).values_list(
        "secret", flat=True).first()


def _record(delivery: CallbackDelivery, outcome: transport.Outcome, *,
            started_at: datetime) -> CallbackAttempt:
    with transaction.atomic():
        delivery = CallbackDelivery.objects.select_for_update().get(pk=delivery.pk)
        delivery.attempts += 1
        attempt = CallbackAttempt.objects.create(
            delivery=delivery, number=delivery.attempts, started_at=started_at,
            duration_ms=outcome.duration_ms, status_code=outcome.status_code,
            error=outcome.error)
        now = timezone.now()
        refused = outcome.error.startswith("refused:")
        if outcome.delivered:
            delivery.status, delivery.finished_at, delivery.next_attempt_at = (
                DeliveryStatus.DELIVERED, now, None)
        elif refused or delivery.attempts >= settings.CALLBACK_MAX_ATTEMPTS:
            # A refused address is refused again on a retry: no point waiting for it.
            delivery.status, delivery.finished_at, delivery.next_attempt_at = (
                DeliveryStatus.FAILED, now, None)
        else:
            wait = backoff_seconds(attempts=delivery.attempts)
            delivery.next_attempt_at = now + timedelta(seconds=wait)
        delivery.save(update_fields=["status", "attempts", "next_attempt_at", "finished_at"])
    # After the commit: an attempt rolled back was never made.
    ATTEMPTS.labels(_outcome(delivery, outcome)).inc()
    return attempt


def _outcome(delivery: CallbackDelivery, outcome: transport.Outcome) -> str:
    if outcome.delivered:
        return "delivered"
    return "failed" if delivery.status == DeliveryStatus.FAILED else "retrying"


def backoff_seconds(*, attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: doubling from the base,
    capped, with jitter (between half and all of it) so that receivers coming back up are
    not hit by every retry at once."""
    base = settings.CALLBACK_BACKOFF_SECONDS
    ceiling = min(base * 2 ** (attempts - 1), settings.CALLBACK_BACKOFF_MAX_SECONDS)
    return ceiling * (0.5 + random.random() / 2)  # noqa: S311  (jitter, not a secret)


def deliveries_send_due() -> int:
    """The sweep: send the pending deliveries whose time has come (retries, and any whose
    message was lost). The attempt's lease keeps a delivery from being sent twice at once."""
    ids = list(CallbackDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now(),
    ).order_by("next_attempt_at").values_list("pk", flat=True)[:SWEEP_BATCH])
    if ids:
        with transaction.atomic():
            _send_on_commit(ids)
    return len(ids)


def deliveries_replay(*, delivery_ids: Iterable[int], by: Actor) -> list[CallbackDelivery]:
    """A new delivery of the same message for each one given (the receiver sees a new
    delivery id), pending and due now."""
    now = timezone.now()
    with transaction.atomic():
        sources = CallbackDelivery.objects.filter(pk__in=delivery_ids).only(
            "pk", "task_id", "url", "body", "task_status")
        fresh = CallbackDelivery.objects.bulk_create([
            CallbackDelivery(task_id=d.task_id, url=d.url, body=d.body,
                             task_status=d.task_status, replay_of_id=d.pk,
                             status=DeliveryStatus.PENDING, next_attempt_at=now,
                             created_at=now)
            for d in sources
        ])
        _send_on_commit([d.pk for d in fresh])
    return fresh
