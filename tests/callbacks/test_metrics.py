"""/metrics: callback attempts by outcome, after real POSTs to a local receiver."""

from __future__ import annotations

import pytest

from apps.callbacks import services
from tests.builders import task_in_state
from tests.metrics import Metrics

from .flows import delivery_of, make_due

pytestmark = pytest.mark.django_db


def test_a_delivered_callback_counts_as_delivered(alice, receiver, eager_celery, client,
                                                  settings, django_capture_on_commit_callbacks):
    metrics = Metrics(client, settings)
    with django_capture_on_commit_callbacks(execute=True):
        task_in_state("completed", creator=alice, extras={"callback_url": receiver.url})

    assert metrics.added("taskmanage_callback_attempts_total", outcome="delivered") == 1
    assert metrics.added("taskmanage_callback_attempts_total", outcome="retrying") == 0


def test_a_refused_connection_retries_then_fails_for_good(alice, closed_port_url, client,
                                                          settings,
                                                          django_capture_on_commit_callbacks):
    settings.CALLBACK_MAX_ATTEMPTS = 2
    with django_capture_on_commit_callbacks(execute=True):
        task = task_in_state("completed", creator=alice,
                             extras={"callback_url": closed_port_url})
    metrics = Metrics(client, settings)

    for _ in range(2):
        make_due(delivery_of(task))
        services.delivery_attempt(delivery_id=delivery_of(task).pk)

    assert metrics.added("taskmanage_callback_attempts_total", outcome="retrying") == 1
    assert metrics.added("taskmanage_callback_attempts_total", outcome="failed") == 1
