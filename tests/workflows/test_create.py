"""Creating a workflow: the whole graph in one request, one transaction, or a 400 naming the
field with nothing written."""

from __future__ import annotations

import pytest

from apps.callbacks.models import TaskCallback
from apps.tasks.models import Task
from apps.workflows.models import Workflow, WorkflowNode
from tests.builders import api_client, field_errors
from tests.workflows.conftest import create, graph_body, ids, status

pytestmark = pytest.mark.django_db

DIAMOND = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]


def test_a_workflow_is_created_with_its_tasks_and_answers_their_keys_ids_and_status(
        rita, step):
    created = create(rita, graph_body(DIAMOND))
    assert set(created) >= {"id", "status", "progress", "tasks"}
    assert created["status"] == "running"
    assert created["progress"] == {"done": 0, "total": 4}
    assert [t["key"] for t in created["tasks"]] == ["a", "b", "c", "d"]
    assert {t["key"]: t["status"] for t in created["tasks"]} == {
        "a": "queued", "b": "blocked", "c": "blocked", "d": "blocked"}
    task = {t["key"]: t for t in created["tasks"]}
    for t in created["tasks"]:
        assert status(t["id"]) == t["status"]
    d = Task.objects.get(pk=task["d"]["id"])
    assert {str(x) for x in d.depends_on.values_list("pk", flat=True)} == {
        task["b"]["id"], task["c"]["id"]}
    workflow = Workflow.objects.get(pk=created["id"])
    assert workflow.created_by == rita
    assert dict(workflow.nodes.values_list("key", "task_id")) == {
        k: Task.objects.get(pk=v).pk for k, v in ids(created).items()}


def test_a_task_without_edges_is_queued_at_once(rita, step):
    created = create(rita, graph_body([], keys=["solo"]))
    assert created["tasks"][0]["status"] == "queued"


def test_node_task_fields_are_kept(rita, step):
    body = graph_body([], keys=["x"], priority="high", payload={"n": 1}, reference="R-1",
                      labels=["nightly"])
    task = Task.objects.get(pk=create(rita, body)["tasks"][0]["id"])
    assert (task.priority, task.payload, task.reference, task.labels) == (
        2, {"n": 1}, "R-1", ["nightly"])


def _refused(user, body) -> dict:
    before = (Task.objects.count(), Workflow.objects.count(), WorkflowNode.objects.count())
    response = api_client(user).post("/api/v1/workflows", body, format="json")
    assert response.status_code == 400, response.content
    assert (Task.objects.count(), Workflow.objects.count(),
            WorkflowNode.objects.count()) == before
    return field_errors(response)


def test_a_cycle_is_refused_naming_it(rita, step):
    errors = _refused(rita, graph_body([("a", "b"), ("b", "c"), ("c", "a"), ("x", "a")]))
    assert errors == {"edges": ["The graph has a cycle: a → b → c → a."]}


def test_a_two_node_cycle_is_named_too(rita, step):
    errors = _refused(rita, graph_body([("p", "q"), ("q", "p")]))
    assert errors == {"edges": ["The graph has a cycle: p → q → p."]}


@pytest.mark.parametrize(("body", "field", "says"), [
    (graph_body([("a", "b")], keys=["a", "b", "a"]), "tasks", "key 'a' repeats item 0"),
    (graph_body([("a", "zz")], keys=["a"]), "edges", "unknown key 'zz'"),
    (graph_body([("a", "a")]), "edges", "cannot depend on itself"),
    (graph_body([("a", "b"), ("a", "b")]), "edges", "repeats the edge a → b"),
])
def test_bad_graphs_are_a_400_naming_the_field(rita, step, body, field, says):
    errors = _refused(rita, body)
    assert list(errors) == [field]
    assert says in errors[field][0]


def test_a_bad_task_is_named_by_its_index(rita, step):
    body = graph_body([("a", "b")])
    body["tasks"][1]["task_type"] = "nope"
    body["tasks"][0]["priority"] = "urgent-ish"
    errors = _refused(rita, body)
    assert set(errors) == {"tasks"}
    assert "priority" in errors["tasks"]["0"] and "task_type" in errors["tasks"]["1"]


@pytest.mark.parametrize(("change", "field"), [
    ({"name": ""}, "name"),
    ({"on_failure": "explode"}, "on_failure"),
    ({"tasks": []}, "tasks"),
    ({"tasks": "abc"}, "tasks"),
    ({"edges": [["a"]]}, "edges"),
    ({"edges": "a->b"}, "edges"),
    ({"extra": 1}, "extra"),
])
def test_bad_fields_are_a_400_naming_them(rita, step, change, field):
    errors = _refused(rita, {**graph_body([("a", "b")]), **change})
    assert field in errors


def test_a_node_keeps_the_fields_other_apps_add_to_a_task_create(rita, step):
    body = graph_body([], keys=["x"], callback_url="https://hooks.example.com/wf")
    task_id = create(rita, body)["tasks"][0]["id"]
    # Accepted and then dropped, the callback was never stored nor delivered.
    assert TaskCallback.objects.get(task_id=task_id).url == "https://hooks.example.com/wf"


def test_fields_a_workflow_task_may_not_set_are_refused(rita, step):
    body = graph_body([], keys=["a"])
    body["tasks"][0]["depends_on"] = []
    errors = _refused(rita, body)
    assert "depends_on" in errors["tasks"]["0"]


def test_bad_keys_are_refused(rita, step):
    errors = _refused(rita, graph_body([], keys=["has space"]))
    assert "key" in errors["tasks"]["0"]


def test_too_many_nodes_are_refused(rita, step, monkeypatch):
    from apps.workflows import services

    monkeypatch.setattr(services, "MAX_NODES", 2)
    errors = _refused(rita, graph_body([("a", "b"), ("b", "c")]))
    assert "tasks" in errors
