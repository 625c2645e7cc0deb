"""Operators see deliveries with their attempts and replay them in bulk."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.callbacks.models import CallbackDelivery
from tests.builders import task_in_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_deliveries(alice, receiver, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            task_in_state("cancelled", creator=alice, extras={"callback_url": receiver.url})
    return list(CallbackDelivery.objects.order_by("pk"))


def test_an_operator_replays_selected_deliveries(client, olga, receiver, two_deliveries,
                                                 django_capture_on_commit_callbacks):
    client.force_login(olga)

    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post("/admin/callbacks/callbackdelivery/", {
            "action": "replay_selected",
            "_selected_action": [str(d.pk) for d in two_deliveries]}, follow=True)

    assert resp.status_code == 200
    assert "2 callback deliveries replayed." in resp.content.decode()
    replays = CallbackDelivery.objects.filter(replay_of__isnull=False)
    assert sorted(r.replay_of_id for r in replays) == [d.pk for d in two_deliveries]
    assert {r.status for r in replays} == {"delivered"} and len(receiver.requests) == 4


def test_replaying_one_says_so_in_the_singular(client, olga, two_deliveries):
    client.force_login(olga)

    resp = client.post("/admin/callbacks/callbackdelivery/", {
        "action": "replay_selected", "_selected_action": [str(two_deliveries[0].pk)]},
        follow=True)

    assert "1 callback delivery replayed." in resp.content.decode()


def test_a_delivery_page_shows_its_attempts(client, olga, two_deliveries):
    client.force_login(olga)

    resp = client.get(f"/admin/callbacks/callbackdelivery/{two_deliveries[0].pk}/change/")

    assert resp.status_code == 200 and "attempt" in resp.content.decode().lower()
    assert two_deliveries[0].url in resp.content.decode()


def test_the_changelist_costs_the_same_for_few_or_many(client, olga, two_deliveries):
    client.force_login(olga)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/admin/callbacks/callbackdelivery/").status_code == 200
    CallbackDelivery.objects.bulk_create([
        CallbackDelivery(task_id=d.task_id, url=d.url, body=d.body, task_status=d.task_status,
                         created_at=d.created_at) for d in two_deliveries * 5])

    with CaptureQueriesContext(connection) as many:
        assert client.get("/admin/callbacks/callbackdelivery/").status_code == 200

    assert len(many.captured_queries) == len(few.captured_queries)


def test_an_outsider_cannot_open_deliveries_in_the_admin(client, mallory, two_deliveries):
    client.force_login(mallory)

    resp = client.get("/admin/callbacks/callbackdelivery/")

    assert resp.status_code in (302, 403)


def test_a_tasks_admin_page_lists_its_deliveries(client, olga, two_deliveries):
    client.force_login(olga)

    resp = client.get(f"/admin/tasks/task/{two_deliveries[0].task_id}/change/")

    assert resp.status_code == 200 and "callback deliveries" in resp.content.decode().lower()


def test_replaying_many_costs_the_same_queries_as_replaying_one(olga, two_deliveries):
    from apps.callbacks import services
    from apps.core.actors import Actor

    def queries(ids):
        with CaptureQueriesContext(connection) as ctx:
            services.deliveries_replay(delivery_ids=CallbackDelivery.objects.filter(
                pk__in=ids).values("pk"), by=Actor.for_user(olga))
        return len(ctx.captured_queries)

    assert queries([two_deliveries[0].pk]) == queries([d.pk for d in two_deliveries])
