"""/metrics: how long approvals wait for their decision, counted after a real decision."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.approvals.models import ApprovalRequest
from tests.builders import api_client
from tests.metrics import Metrics

pytestmark = pytest.mark.django_db


def test_a_decision_through_the_api_observes_its_wait_by_kind_and_decision(
        margaret, asked, client, settings, django_capture_on_commit_callbacks):
    # Asked two hours ago: the observation lands in the buckets above 1 h, not below.
    ApprovalRequest.objects.filter(pk=asked.pk).update(
        created_at=asked.created_at - timedelta(hours=2))
    metrics = Metrics(client, settings)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(margaret).post(f"/api/v1/approvals/{asked.pk}/approve")
    assert response.status_code == 200, response.content

    labels = {"kind": "creation", "decision": "approved"}
    assert metrics.added("taskmanage_approval_wait_seconds_count", **labels) == 1
    assert metrics.added("taskmanage_approval_wait_seconds_bucket", le="3600.0", **labels) == 0
    assert metrics.added("taskmanage_approval_wait_seconds_bucket", le="14400.0", **labels) == 1
    assert metrics.added("taskmanage_approval_wait_seconds_count",
                         kind="creation", decision="rejected") == 0
