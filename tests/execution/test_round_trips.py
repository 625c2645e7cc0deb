"""What a unit's claim and batch results cost in PostgreSQL round trips, counted exactly and
the same for 1 task as for 50: the count never grows with the batch, nor unseen."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.execution import services
from tests.builders import create_task, make_task_type
from tests.execution.conftest import register, unit_client

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="counts PostgreSQL's round trips"),
    pytest.mark.django_db(transaction=True),
]

# The unit by its token; the types it serves with their strategies; BEGIN; the unit's row
# lock; what was routed to it; the sharded parents waiting; the paused or limited queues;
# the queued tasks (SKIP LOCKED); their rows; their history; the unit's count; COMMIT; the
# dependencies the answer lists; their callback URLs (apps.callbacks, one query for the lot).
CLAIM = ['FROM "execution_executionunit"', 'FROM "tasks_tasktype"', "BEGIN",
         'FOR UPDATE', '"tasks_task"."status" = \'assigned\'',
         '"tasks_task"."shard_count" IS NOT NULL', 'FROM "execution_unitqueue"', 'SKIP LOCKED',
         'UPDATE "tasks_task"',
         'INSERT INTO "tasks_taskhistory"', 'UPDATE "execution_executionunit"', "COMMIT",
         'FROM "tasks_task_depends_on"', 'FROM "callbacks_taskcallback"']
# The unit; BEGIN; the tasks locked; their rows; their history; which have a callback
# (apps.callbacks); dependants to release; the unit's count; COMMIT.
RESULTS = ['FROM "execution_executionunit"', "BEGIN", "FOR UPDATE", 'UPDATE "tasks_task"',
           'INSERT INTO "tasks_taskhistory"', 'FROM "callbacks_taskcallback"',
           '"tasks_task"."status" = \'blocked\'',
           'UPDATE "execution_executionunit"', "COMMIT"]


def assert_statements(ctx, expected: list[str]) -> None:
    sent = [q["sql"] for q in ctx.captured_queries]
    assert len(sent) == len(expected), "\n".join(s[:160] for s in sent)
    for sql, words in zip(sent, expected, strict=True):
        assert words in sql, sql[:300]


@pytest.mark.parametrize("size", [1, 50])
def test_a_claim_and_its_results_cost_the_same_round_trips_for_1_task_or_50(olga, size):
    docs = make_task_type("docs", assignee_kind="unit")
    for _ in range(size):
        create_task(by=olga, task_type=docs)
    unit, token = register("worker-001", capacity=100)
    client = unit_client(token)
    services.served_task_type_ids(unit=unit)  # the accepted unit types, cached for seconds

    with CaptureQueriesContext(connection) as ctx:
        claimed = client.post("/api/v1/execution-units/worker-001/claim", {"max": size},
                              format="json").json()["tasks"]
    assert len(claimed) == size
    assert_statements(ctx, CLAIM)

    body = {"results": [{"task_id": t["id"], "outcome": "completed", "result": 1}
                        for t in claimed]}
    with CaptureQueriesContext(connection) as ctx:
        response = client.post("/api/v1/execution-units/worker-001/results", body,
                               format="json")
    assert response.status_code == 200
    assert {r["status"] for r in response.json()["results"]} == {"completed"}
    assert_statements(ctx, RESULTS)
