"""A dependency's result reaches its dependant in the answers that show the task for its work:
the task's detail and a unit's claim carry `inputs`, by dependency key, for whoever may see
the task (a unit: only for the tasks it holds); the claim reads them for every claimed task in
one query."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.execution import beats
from apps.execution import services as unit_services
from tests.builders import api_client, create_task, make_task_type
from tests.execution.conftest import register, unit_client
from tests.workflows.conftest import complete, create, graph_body, ids

pytestmark = pytest.mark.django_db

DIAMOND = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]


@pytest.fixture(autouse=True)
def own_heartbeat_keys(settings):
    # Units' heartbeats live in a real, shared Redis: each test keeps its own keys.
    settings.UNITS_KEY_PREFIX = f"tm:test:{uuid.uuid4().hex}:"
    beats.reset_client()
    yield
    beats.reset_client()


def detail(user, task_id) -> dict:
    response = api_client(user).get(f"/api/v1/tasks/{task_id}")
    assert response.status_code == 200, response.content
    return response.json()


def unit_graph(rita, edges) -> dict[str, str]:
    make_task_type("docs", assignee_kind="unit")
    body = graph_body(edges)
    for item in body["tasks"]:
        item["task_type"] = "docs"
    return ids(create(rita, body))


def test_the_detail_carries_the_completed_dependencies_results_by_key(rita, alice, step):
    t = ids(create(rita, graph_body(DIAMOND)))
    assert detail(rita, t["a"])["inputs"] is None  # no dependencies
    assert detail(rita, t["d"])["inputs"] == {}  # none completed yet
    complete(t["a"], alice, result={"rows": 10})
    complete(t["b"], alice, result={"b": True})
    assert detail(rita, t["d"])["inputs"] == {"b": {"b": True}}
    complete(t["c"], alice, result=[1, 2])
    assert detail(rita, t["d"])["inputs"] == {"b": {"b": True}, "c": [1, 2]}
    assert detail(rita, t["b"])["inputs"] == {"a": {"rows": 10}}


def test_a_task_outside_any_workflow_has_no_inputs_even_with_dependencies(rita, alice, step):
    first = create_task(by=rita, task_type=step)
    second = create_task(by=rita, task_type=step, depends_on=[first.pk])
    complete(first.pk, alice, result={"x": 1})
    assert detail(rita, second.pk)["inputs"] is None


def test_a_task_outside_the_workflow_gets_no_inputs_from_its_tasks(rita, alice, step):
    t = ids(create(rita, graph_body([("a", "b")])))
    outside = create_task(by=rita, task_type=step, depends_on=[t["a"]])
    complete(t["a"], alice, result={"secret": 1})
    assert detail(rita, outside.pk)["inputs"] is None
    assert detail(rita, t["b"])["inputs"] == {"a": {"secret": 1}}


def test_an_outsider_gets_a_404_and_no_inputs(rita, alice, mallory, step):
    t = ids(create(rita, graph_body([("a", "b")])))
    complete(t["a"], alice, result={"secret": 1})
    response = api_client(mallory).get(f"/api/v1/tasks/{t['b']}")
    assert response.status_code == 404
    assert b"secret" not in response.content


def test_lists_and_creates_do_not_carry_inputs(rita, step):
    t = ids(create(rita, graph_body([("a", "b")])))
    listed = api_client(rita).get("/api/v1/tasks").json()["results"]
    assert {r["id"] for r in listed} >= set(t.values())
    assert all("inputs" not in r for r in listed)


def test_a_claim_carries_the_inputs_of_what_the_unit_takes(rita):
    t = unit_graph(rita, [("a", "b")])
    _, token = register("worker-001", capacity=1)
    client = unit_client(token)
    claim = "/api/v1/execution-units/worker-001/claim"
    (first,) = client.post(claim, {"max": 1}, format="json").json()["tasks"]
    assert (first["id"], first["inputs"]) == (t["a"], None)
    client.post("/api/v1/execution-units/worker-001/results", {"results": [
        {"task_id": t["a"], "outcome": "completed", "result": {"rows": 3}}]}, format="json")
    (second,) = client.post(claim, {"max": 1}, format="json").json()["tasks"]
    assert (second["id"], second["inputs"]) == (t["b"], {"a": {"rows": 3}})


def test_a_unit_not_holding_the_task_reads_its_detail_without_inputs(rita):
    t = unit_graph(rita, [("a", "b")])
    _, token = register("worker-001", capacity=1)
    _, other = register("worker-002", capacity=1)
    client = unit_client(token)
    client.post("/api/v1/execution-units/worker-001/claim", {"max": 1}, format="json")
    client.post("/api/v1/execution-units/worker-001/results", {"results": [
        {"task_id": t["a"], "outcome": "completed", "result": {"rows": 3}}]}, format="json")
    client.post("/api/v1/execution-units/worker-001/claim", {"max": 1}, format="json")
    holder = client.get(f"/api/v1/tasks/{t['b']}")
    assert holder.status_code == 200 and holder.json()["inputs"] == {"a": {"rows": 3}}
    stranger = unit_client(other).get(f"/api/v1/tasks/{t['b']}")
    # It sees the task (of a type it serves), not the inputs of work another unit holds.
    assert stranger.status_code == 200 and stranger.json()["inputs"] is None


def claim_counted(rita, n: int) -> tuple[list[str], list[dict]]:
    """A root and n dependants of unit work; the root done; the n claimed at once."""
    body = graph_body([("r", f"d{i}") for i in range(n)], name=f"fan-{n}")
    for item in body["tasks"]:
        item["task_type"] = "docs"
    t = ids(create(rita, body))
    unit, token = register(f"worker-{n}", capacity=100)
    by = unit_services.unit_actor(unit=unit)
    (root,) = unit_services.tasks_claim(unit=unit, max_tasks=1, by=by)
    assert str(root.pk) == t["r"]
    unit_services.unit_report_results(unit=unit, results=[
        {"task_id": t["r"], "outcome": "completed", "result": {"n": n}}], by=by)
    unit_services.served_task_type_ids(unit=unit)  # cached for seconds, as in a real claim
    with CaptureQueriesContext(connection) as ctx:
        response = unit_client(token).post(f"/api/v1/execution-units/worker-{n}/claim",
                                           {"max": n}, format="json")
    assert response.status_code == 200
    return [q["sql"] for q in ctx.captured_queries], response.json()["tasks"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="counts PostgreSQL's round trips")
@pytest.mark.django_db(transaction=True)
def test_a_claim_reads_the_inputs_of_1_or_50_tasks_in_one_query(rita):
    make_task_type("docs", assignee_kind="unit")
    one, claimed_one = claim_counted(rita, 1)
    fifty, claimed = claim_counted(rita, 50)
    assert len(claimed) == 50 and {str(c["inputs"]) for c in claimed} == {"{'r': {'n': 50}}"}
    assert claimed_one[0]["inputs"] == {"r": {"n": 1}}
    assert len(fifty) == len(one), "\n".join(q[:160] for q in fifty)
    assert sum('"workflows_workflownode"' in q for q in fifty) == 1
