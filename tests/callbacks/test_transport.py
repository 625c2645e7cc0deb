"""How an attempt leaves: bounded as a whole (not per socket read), and tried on each checked
address of the name in turn. Real local receivers, and names pinned by CALLBACK_RESOLVE (the
setting an operator uses, not a stand-in for DNS)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from apps.callbacks.transport import Refused, post, resolve
from tests.builders import task_in_state

from .flows import delivery_of

pytestmark = pytest.mark.django_db(transaction=False)


class DrippingReceiver:
    """Reads the request, then answers a header line every 0.2 s for `drip_seconds`: each
    read gets a byte long before any socket timeout, the whole answer never comes in time."""

    def __init__(self, drip_seconds: float):
        self.drip_seconds = drip_seconds
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.requests = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def _serve(self):
        conn, _ = self.server.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            self.requests += 1
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                ends = time.monotonic() + self.drip_seconds
                while time.monotonic() < ends:
                    conn.sendall(b"X-Drip: .\r\n")
                    time.sleep(0.2)
                conn.sendall(b"Content-Length: 0\r\n\r\n")
            except OSError:
                pass  # the client hung up: what the test wants

    def close(self):
        self.server.close()


@pytest.fixture
def dripping(allow_private):
    receiver = DrippingReceiver(drip_seconds=6)
    yield receiver
    receiver.close()


def test_a_receiver_dripping_its_answer_is_cut_off_at_the_attempts_deadline(dripping):
    outcome = post(dripping.url, b"{}", {"Content-Type": "application/json"}, timeout=1.0,
                   allow_private=True)

    assert outcome.status_code is None and outcome.error.startswith("timed out")
    assert outcome.duration_ms < 2500  # 1 s and a little, not the 6 s of the drip
    assert dripping.requests == 1


def test_a_dripping_receiver_holds_a_delivery_no_longer_than_the_timeout(
        alice, dripping, eager_celery, settings, django_capture_on_commit_callbacks):
    settings.CALLBACK_TIMEOUT_SECONDS = 1.0
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        task = task_in_state("cancelled", creator=alice, extras={"callback_url": dripping.url})

    assert time.monotonic() - started < 4
    delivery = delivery_of(task)
    (attempt,) = delivery.attempt_rows.all()
    assert attempt.error.startswith("timed out") and attempt.status_code is None
    assert (delivery.status, delivery.attempts) == ("pending", 1)  # retried later


def test_each_address_of_a_name_is_tried_in_turn(alice, receiver, eager_celery, settings,
                                                 django_capture_on_commit_callbacks):
    # Nothing listens on 127.0.0.2 at the receiver's port: the first address refuses.
    port = receiver.server.server_port
    settings.CALLBACK_RESOLVE = {"hooks.example": ["127.0.0.2", "127.0.0.1"]}
    with django_capture_on_commit_callbacks(execute=True):
        task = task_in_state("cancelled", creator=alice,
                             extras={"callback_url": f"http://hooks.example:{port}/tm"})

    (request,) = receiver.requests
    assert request["headers"]["Host"] == f"hooks.example:{port}"
    delivery = delivery_of(task)
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


def test_when_no_address_answers_the_attempt_names_each(allow_private, closed_port_url):
    port = closed_port_url.split(":")[2].split("/")[0]
    outcome = post(f"http://hooks.example:{port}/", b"{}", {}, timeout=2.0, allow_private=True,
                   pinned={"hooks.example": ["127.0.0.2", "127.0.0.1"]})

    assert outcome.status_code is None
    assert "127.0.0.2" in outcome.error and "127.0.0.1" in outcome.error


def test_one_private_address_among_public_ones_refuses_the_name():
    pinned = {"hooks.example": ["93.184.216.34", "10.0.0.7"]}

    with pytest.raises(Refused, match="10.0.0.7"):
        resolve("hooks.example", 443, allow_private=False, pinned=pinned)
    assert resolve("hooks.example", 443, allow_private=True, pinned=pinned) == [
        "93.184.216.34", "10.0.0.7"]
