"""What one request costs in round trips, counted exactly, so the count never grows unseen.

Creates run in real transactions (transaction=True): the BEGIN and COMMIT they pay for are
counted, not hidden in a test's savepoint. Each request follows one like it, as in production:
the token's last_used_at was just written and the task type is in the process cache.

Per create with a bearer token, on the request's thread:
- PostgreSQL: the token with its user (one SELECT), BEGIN, the task and its history, COMMIT
  (one statement for both for one task; one COPY each for a batch, whatever its size);
- Redis: the throttle's counter (one EVALSHA). Celery dispatch and live events are sent after
  commit by the outbox threads (apps.core.outbox), never by the request.
"""

from __future__ import annotations

import threading

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.accounts.services import token_issue
from apps.tasks.models import Task
from tests.builders import make_task_type, make_user

# The statements one create sends, with the words that tell them apart.
SINGLE = ["FROM \"accounts_apitoken\"", "BEGIN",
          "WITH w0 AS (INSERT INTO \"tasks_task\"", "COMMIT"]
BATCH_PG = ["FROM \"accounts_apitoken\"", "BEGIN", "COPY \"tasks_task\"",
            "COPY \"tasks_taskhistory\"", "COMMIT"]


@pytest.fixture
def bearer(db):
    user = make_user("counted")
    _, raw = token_issue(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def redis_calls(monkeypatch):
    """Redis commands sent from this thread (the request's), as (command, key) pairs."""
    calls = []
    thread = threading.get_ident()
    send = redis.Redis.execute_command

    def counted(self, *args, **options):
        if threading.get_ident() == thread:
            calls.append(args[0])
        return send(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counted)
    return calls


def statements(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries]


def assert_statements(ctx, expected: list[str]) -> None:
    sent = statements(ctx)
    assert len(sent) == len(expected), "\n".join(sent)
    for sql, words in zip(sent, expected, strict=True):
        assert words in sql, sql


def items(n: int, key: str) -> list[dict]:
    return [{"title": f"t{i}", "task_type": key, "payload": {"i": i}, "labels": ["l"]}
            for i in range(n)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="counts PostgreSQL's round trips")
@pytest.mark.django_db(transaction=True)
class TestCreateRoundTrips:
    def test_a_single_create_is_four_statements_and_one_redis_command(
            self, bearer, redis_calls):
        kind = make_task_type("counted-kind")
        assert bearer.post("/api/v1/tasks", items(1, kind.key)[0], format="json").status_code \
            == 201
        redis_calls.clear()
        with CaptureQueriesContext(connection) as ctx:
            resp = bearer.post("/api/v1/tasks", items(1, kind.key)[0], format="json")
        assert resp.status_code == 201, resp.data
        assert_statements(ctx, SINGLE)
        assert redis_calls == ["EVALSHA"]

    @pytest.mark.parametrize("size", [2, 10, 500])
    def test_a_batch_is_five_statements_whatever_its_size(self, bearer, redis_calls, size):
        kind = make_task_type("counted-kind")
        assert bearer.post("/api/v1/tasks/batch", {"tasks": items(2, kind.key)},
                           format="json").status_code == 201
        redis_calls.clear()
        with CaptureQueriesContext(connection) as ctx:
            resp = bearer.post("/api/v1/tasks/batch", {"tasks": items(size, kind.key)},
                               format="json")
        assert resp.status_code == 201, resp.data
        assert_statements(ctx, BATCH_PG)
        assert redis_calls == ["EVALSHA"]
        assert Task.objects.filter(task_type=kind).count() == size + 2

    def test_a_batch_the_serializers_check_costs_the_same(self, bearer):
        kind = make_task_type("counted-kind")
        bearer.post("/api/v1/tasks/batch", {"tasks": items(2, kind.key)}, format="json")
        not_plain = [dict(item, title=f"  {item['title']}  ") for item in items(20, kind.key)]
        with CaptureQueriesContext(connection) as ctx:
            resp = bearer.post("/api/v1/tasks/batch", {"tasks": not_plain}, format="json")
        assert resp.status_code == 201, resp.data
        assert_statements(ctx, BATCH_PG)


@pytest.mark.django_db
class TestListQueries:
    def test_the_task_list_costs_a_fixed_number_of_queries(self, bearer):
        kind = make_task_type("counted-kind")
        bearer.post("/api/v1/tasks/batch", {"tasks": items(30, kind.key)}, format="json")
        bearer.get("/api/v1/tasks")  # the token's last_used_at is written once
        with CaptureQueriesContext(connection) as ctx:
            resp = bearer.get("/api/v1/tasks?page_size=100")
        assert resp.status_code == 200 and resp.json()["count"] == 30
        # token + user; managed teams; `managers` group; count; the page; its dependencies
        assert len(ctx.captured_queries) == 6, "\n".join(statements(ctx))
