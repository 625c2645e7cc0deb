"""Creating a workflow costs a fixed number of statements whatever its size: the tasks, their
history and their dependency links go in bulk, never a query per node."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.tasks.models import Task
from tests.builders import api_client
from tests.workflows.conftest import graph_body


def layered(n: int) -> dict:
    """n nodes in layers of ten, each node depending on two of the layer before."""
    keys = [f"n{i}" for i in range(n)]
    edges = [(keys[i - 10], keys[i]) for i in range(10, n)]
    edges += [(keys[i - 11], keys[i]) for i in range(11, n) if i % 10]
    return graph_body(edges, keys=keys, payload={"x": 1})


def create_counted(client, body) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.post("/api/v1/workflows", body, format="json")
    assert response.status_code == 201, response.content
    assert len(response.json()["tasks"]) == len(body["tasks"])
    return [q["sql"] for q in ctx.captured_queries]


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="counts PostgreSQL's round trips (SQLite splits bulk inserts)")
@pytest.mark.django_db(transaction=True)
def test_a_1000_node_workflow_is_one_request_and_as_many_statements_as_a_20_node_one(step):
    from tests.builders import make_user

    client = api_client(make_user("counted"))
    create_counted(client, layered(20))  # the task type is in the process cache from here
    small = create_counted(client, layered(20))
    large = create_counted(client, layered(1000))
    assert len(large) == len(small), "\n".join(large)
    # BEGIN, the batch's savepoint, COPY tasks, COPY history, the links, its release, the
    # workflow, its nodes, COMMIT
    assert len(large) == 9, "\n".join(large)
    assert Task.objects.filter(workflow_node__workflow__name="etl").count() == 1040
    assert any(sql.startswith('COPY "tasks_task"') for sql in large)
