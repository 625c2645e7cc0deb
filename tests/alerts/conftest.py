"""A real HTTP receiver on 127.0.0.1 for webhooks (the callbacks tests' own), and alert
deliveries run in the test's thread as the Celery task would run them."""

from __future__ import annotations

import pytest

from apps.alerts import services
from apps.alerts.models import AlertRule
from tests.callbacks.conftest import Receiver


@pytest.fixture
def receiver(settings):
    settings.CALLBACK_ALLOW_PRIVATE = True  # a receiver on this machine, as on a private net
    settings.CALLBACK_TIMEOUT_SECONDS = 2.0
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture(autouse=True)
def inline_delivery(monkeypatch):
    """The message after commit runs the Celery task at once (`apply`), in this thread."""
    monkeypatch.setattr(services, "send_task", lambda task, *args: task.apply(args=args))


def make_rule(kind: str, **fields) -> AlertRule:
    fields.setdefault("name", f"{kind} rule")
    fields.setdefault("email_to", "oncall@example.com")
    rule = AlertRule(kind=kind, **fields)
    rule.full_clean()
    rule.save()
    return rule
