"""A delivery whose claim lapses while its attempt is still under way (a worker stalled past
its lease) can be POSTed a second time: both carry the same delivery id, so the receiver can
drop the repeat. Real concurrent attempts on PostgreSQL connections."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections
from taskmanage_client.webhooks import verify

from apps.callbacks import services
from apps.callbacks.models import CallbackSecret
from tests.builders import task_in_state

from .flows import delivery_of, make_due

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrency needs "
                                                                  "PostgreSQL"),
]


def test_a_second_post_after_a_lapsed_claim_carries_the_same_delivery_id(alice, receiver):
    receiver.codes = [500]  # the first delivery fails: the delivery waits, pending
    task = task_in_state("cancelled", creator=alice, extras={"callback_url": receiver.url})
    delivery = delivery_of(task)
    make_due(delivery)
    receiver.requests.clear()
    receiver.delays = [1.5]  # the next answer is slow

    def slow_attempt():
        try:
            services.delivery_attempt(delivery_id=delivery.pk)
        finally:
            connections.close_all()

    first = threading.Thread(target=slow_attempt)
    first.start()
    deadline = time.monotonic() + 10
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    make_due(delivery)  # its claim runs out while it still waits for the answer
    services.delivery_attempt(delivery_id=delivery.pk)
    first.join(timeout=10)

    first_post, repeat = receiver.requests
    secret = CallbackSecret.objects.get(user=alice).secret
    for request in (first_post, repeat):
        verify(secret, request["headers"]["X-TaskManage-Timestamp"], request["body"],
               request["headers"]["X-TaskManage-Signature"])
    assert first_post["headers"]["X-TaskManage-Delivery"] == \
        repeat["headers"]["X-TaskManage-Delivery"] == str(delivery.pk)
    assert first_post["body"] == repeat["body"]
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
