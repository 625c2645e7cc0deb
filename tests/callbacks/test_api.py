"""The callback endpoints: your own secret, and a task's deliveries, for whoever may see it;
who must not get in does not."""

from __future__ import annotations

import pytest

from apps.callbacks import services
from apps.callbacks.models import CallbackSecret
from apps.core.actors import Actor
from tests.builders import api_client, make_task_type, task_in_state
from tests.execution.conftest import register, unit_client

from .flows import delivery_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(alice, receiver, eager_celery, django_capture_on_commit_callbacks):
    receiver.codes = [500]
    with django_capture_on_commit_callbacks(execute=True):
        task = task_in_state("cancelled", creator=alice, extras={"callback_url": receiver.url})
    return task


@pytest.fixture
def unit_token():
    make_task_type("docs", assignee_kind="unit")
    _, token = register("worker-cb")
    return token


# --- a task's deliveries -----------------------------------------------------------------------
def test_the_creator_lists_a_tasks_deliveries_with_their_attempts(alice, delivered):
    resp = api_client(alice).get(f"/api/v1/tasks/{delivered.pk}/callbacks")

    assert resp.status_code == 200
    (row,) = resp.json()
    assert row["id"] == delivery_of(delivered).pk
    assert (row["status"], row["task_status"], row["attempts"]) == ("pending", "cancelled", 1)
    assert [(a["number"], a["status_code"], a["error"]) for a in row["attempts_made"]] == [
        (1, 500, "HTTP 500")]


def test_an_admin_sees_any_tasks_deliveries(olga, delivered):
    assert api_client(olga).get(f"/api/v1/tasks/{delivered.pk}/callbacks").status_code == 200


def test_an_outsider_does_not_see_a_tasks_deliveries(mallory, delivered):
    assert api_client(mallory).get(f"/api/v1/tasks/{delivered.pk}/callbacks").status_code == 404


def test_anonymous_callers_see_no_deliveries(delivered):
    assert api_client().get(f"/api/v1/tasks/{delivered.pk}/callbacks").status_code == 401


def test_a_units_token_is_refused_on_deliveries(delivered, unit_token):
    resp = unit_client(unit_token).get(f"/api/v1/tasks/{delivered.pk}/callbacks")

    assert resp.status_code == 403


def test_an_unknown_task_has_no_deliveries(alice):
    resp = api_client(alice).get("/api/v1/tasks/00000000-0000-0000-0000-000000000000/callbacks")

    assert resp.status_code == 404


# --- the caller's secret -------------------------------------------------------------------------
def test_a_caller_reads_their_secret_made_on_first_use_and_the_same_after(alice):
    client = api_client(alice)

    first = client.get("/api/v1/callbacks/secret")
    again = client.get("/api/v1/callbacks/secret")

    assert first.status_code == 200 and first.json()["secret"].startswith("whsec_")
    assert again.json()["secret"] == first.json()["secret"]
    assert CallbackSecret.objects.get(user=alice).secret == first.json()["secret"]


def test_rotating_gives_a_new_secret(alice):
    client = api_client(alice)
    old = client.get("/api/v1/callbacks/secret").json()["secret"]

    resp = client.post("/api/v1/callbacks/secret")

    assert resp.status_code == 200 and resp.json()["secret"] != old
    assert CallbackSecret.objects.get(user=alice).secret == resp.json()["secret"]


def test_an_admin_sees_only_their_own_secret(olga, alice):
    alices = services.callback_secret_get(by=Actor.for_user(alice)).secret

    resp = api_client(olga).get("/api/v1/callbacks/secret")

    assert resp.status_code == 200 and resp.json()["secret"] != alices
    assert CallbackSecret.objects.get(user=alice).secret == alices  # untouched


def test_anonymous_callers_have_no_secret():
    assert api_client().get("/api/v1/callbacks/secret").status_code == 401
    assert api_client().post("/api/v1/callbacks/secret").status_code == 401
    assert not CallbackSecret.objects.exists()


def test_a_units_token_is_refused_on_the_secret(unit_token):
    assert unit_client(unit_token).get("/api/v1/callbacks/secret").status_code == 403
    assert unit_client(unit_token).post("/api/v1/callbacks/secret").status_code == 403
    assert not CallbackSecret.objects.exists()


def test_a_unit_cannot_create_a_task_with_a_callback(unit_token):
    resp = unit_client(unit_token).post("/api/v1/tasks", {
        "title": "t", "task_type": "docs", "callback_url": "https://hooks.example.com/"},
        format="json")

    assert resp.status_code == 403


def test_a_malformed_task_id_is_not_found(alice):
    assert api_client(alice).get("/api/v1/tasks/not-a-uuid/callbacks").status_code == 404
