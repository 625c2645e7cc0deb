"""The approvals API: shapes, filters, bad input, and a list that costs the same for any size."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.approvals.models import ApprovalRequest
from apps.tasks.states import TaskStatus
from tests.approvals.flows import completion_request, creation_request
from tests.builders import api_client, field_errors, make_staff

S = TaskStatus
pytestmark = pytest.mark.django_db


def test_a_request_has_the_documented_shape(margaret, asked):
    body = api_client(margaret).get(f"/api/v1/approvals/{asked.pk}").json()

    assert set(body) == {
        "id", "kind", "status", "task", "requester", "decider", "comment", "created_at",
        "decided_at", "due_at", "overdue", "escalated_at", "allowed_actions",
    }
    assert body["task"] == {"id": str(asked.task_id), "title": "buy a server",
                            "status": S.PENDING_APPROVAL}
    assert (body["kind"], body["status"], body["requester"], body["decider"]) == (
        "creation", "pending", "rita", None)
    assert body["overdue"] is False and body["escalated_at"] is None


def test_the_list_filters_by_status_and_kind(margaret, asked, submitted):
    client = api_client(margaret)
    client.post(f"/api/v1/approvals/{asked.pk}/approve")

    def ids(query):
        resp = client.get(f"/api/v1/approvals{query}")
        assert resp.status_code == 200
        return [r["id"] for r in resp.json()["results"]]

    assert ids("?status=pending") == [submitted.pk]
    assert ids("?status=approved") == [asked.pk]
    assert ids("?kind=creation") == [asked.pk]
    assert ids("?status=pending&kind=completion") == [submitted.pk]
    assert ids("/?status=pending&kind=creation") == []  # a trailing slash is accepted too


def test_the_overdue_filter_shows_pending_requests_past_their_deadline(margaret, asked,
                                                                       submitted):
    ApprovalRequest.objects.filter(pk=asked.pk).update(
        due_at=timezone.now() - timedelta(minutes=1))
    client = api_client(margaret)

    overdue = client.get("/api/v1/approvals?overdue=true").json()["results"]
    assert [(r["id"], r["overdue"]) for r in overdue] == [(asked.pk, True)]
    rest = client.get("/api/v1/approvals?overdue=false").json()["results"]
    assert [(r["id"], r["overdue"]) for r in rest] == [(submitted.pk, False)]


def test_a_decided_request_is_never_overdue(margaret, asked):
    ApprovalRequest.objects.filter(pk=asked.pk).update(
        due_at=timezone.now() - timedelta(minutes=1))
    client = api_client(margaret)
    assert client.post(f"/api/v1/approvals/{asked.pk}/approve").json()["overdue"] is False
    assert client.get("/api/v1/approvals?overdue=true").json()["results"] == []


@pytest.mark.parametrize("query", ["?status=maybe", "?kind=deletion", "?overdue=perhaps"])
def test_unknown_filter_values_are_a_400(margaret, query):
    resp = api_client(margaret).get(f"/api/v1/approvals{query}")
    assert resp.status_code == 400
    assert query[1:].split("=")[0] in resp.json()


def test_a_rejection_needs_a_comment(amos, asked):
    client = api_client(amos)
    for body in ({}, {"comment": ""}, {"comment": "   "}):
        resp = client.post(f"/api/v1/approvals/{asked.pk}/reject", body)
        assert resp.status_code == 400 and "comment" in resp.json()
    asked.refresh_from_db()
    assert asked.status == "pending"


@pytest.mark.parametrize("action", ["approve", "reject", "withdraw"])
def test_fields_a_decision_does_not_take_are_refused_by_name(amos, asked, action):
    resp = api_client(amos).post(f"/api/v1/approvals/{asked.pk}/{action}",
                                 {"comment": "ok", "status": "approved", "decider": 1})
    assert resp.status_code == 400
    assert set(field_errors(resp)) == {"status", "decider"}
    asked.refresh_from_db()
    assert asked.status == "pending"


def test_a_comment_too_long_is_a_400(amos, asked):
    resp = api_client(amos).post(f"/api/v1/approvals/{asked.pk}/approve",
                                 {"comment": "x" * 2001})
    assert resp.status_code == 400 and "comment" in resp.json()


def test_unknown_ids_are_404(amos):
    client = api_client(amos)
    assert client.get("/api/v1/approvals/999999").status_code == 404
    assert client.get("/api/v1/approvals/abc").status_code == 404
    assert client.post("/api/v1/approvals/999999/approve").status_code == 404


def test_requests_cannot_be_created_edited_or_deleted_over_the_api(olga, asked):
    client = api_client(olga)
    assert client.post("/api/v1/approvals", {"kind": "creation"}).status_code == 405
    assert client.patch(f"/api/v1/approvals/{asked.pk}", {"status": "approved"}).status_code \
        == 405
    assert client.delete(f"/api/v1/approvals/{asked.pk}").status_code == 405


def test_the_list_costs_the_same_queries_for_few_or_many_requests(
        margaret, rita, alice, needs_approval, needs_review, platform):
    def queries():
        # A fresh user each time, as each request loads one: roles are cached on the object.
        client = api_client(type(margaret).objects.get(pk=margaret.pk))
        with CaptureQueriesContext(connection) as ctx:
            resp = client.get("/api/v1/approvals?page_size=100")
            assert resp.status_code == 200
        return len(ctx.captured_queries), resp.json()["count"]

    creation_request(by=rita, task_type=needs_approval)
    completion_request(creator=rita, assignee=alice, task_type=needs_review)
    few, count = queries()
    assert count == 2
    for i in range(6):
        someone = make_staff(f"requester{i}", team=platform, capacity=5).user
        creation_request(by=someone, task_type=needs_approval)
        completion_request(creator=rita, assignee=someone, task_type=needs_review)
    many, count = queries()
    assert count == 14
    assert many == few


def test_the_list_is_paginated(margaret, rita, needs_approval):
    for _ in range(3):
        creation_request(by=rita, task_type=needs_approval)
    body = api_client(margaret).get("/api/v1/approvals?page_size=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


def test_the_schema_documents_the_endpoints(olga):
    resp = api_client(olga).get("/api/schema/")
    assert resp.status_code == 200
    text = resp.content.decode()
    for path in ("/api/v1/approvals", "/api/v1/approvals/{id}/approve",
                 "/api/v1/approvals/{id}/reject", "/api/v1/approvals/{id}/withdraw"):
        assert path in text
