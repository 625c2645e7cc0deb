"""Who may create and read workflows: signed-in people create; a workflow is seen by whoever
may see one of its tasks; a unit's token reads only a node's inputs, for a type it serves."""

from __future__ import annotations

import uuid

import pytest

from apps.execution import beats
from tests.builders import api_client, make_task_type
from tests.execution.conftest import register, unit_client
from tests.workflows.conftest import create, graph_body, ids

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_heartbeat_keys(settings):
    # Units' heartbeats live in a real, shared Redis: each test keeps its own keys.
    settings.UNITS_KEY_PREFIX = f"tm:test:{uuid.uuid4().hex}:"
    beats.reset_client()
    yield
    beats.reset_client()


def test_anonymous_callers_get_a_401_everywhere(rita, step):
    created = create(rita, graph_body([("a", "b")]))
    client = api_client()
    assert client.post("/api/v1/workflows", graph_body([("a", "b")]),
                       format="json").status_code == 401
    assert client.get("/api/v1/workflows").status_code == 401
    assert client.get(f"/api/v1/workflows/{created['id']}").status_code == 401
    assert client.get(
        f"/api/v1/workflows/{created['id']}/tasks/b/inputs").status_code == 401


def test_an_outsider_neither_lists_nor_reads_anothers_workflow(rita, mallory, step):
    created = create(rita, graph_body([("a", "b")]))
    client = api_client(mallory)
    assert client.get("/api/v1/workflows").json()["results"] == []
    assert client.get(f"/api/v1/workflows/{created['id']}").status_code == 404
    assert client.get(
        f"/api/v1/workflows/{created['id']}/tasks/b/inputs").status_code == 404


def test_a_manager_and_an_admin_see_every_workflow(rita, margaret, olga, step):
    created = create(rita, graph_body([("a", "b")]))
    for user in (margaret, olga):
        assert api_client(user).get(f"/api/v1/workflows/{created['id']}").status_code == 200


def test_who_holds_one_of_its_tasks_sees_the_workflow(rita, alice, step):
    from tests.workflows.conftest import start

    created = create(rita, graph_body([("a", "b")]))
    assert api_client(alice).get(f"/api/v1/workflows/{created['id']}").status_code == 404
    start(ids(created)["a"], alice)
    assert api_client(alice).get(f"/api/v1/workflows/{created['id']}").status_code == 200


def test_a_units_token_is_refused_but_for_inputs(rita, step):
    make_task_type("docs", assignee_kind="unit")
    created = create(rita, {**graph_body([("a", "b")]), "tasks": [
        {"key": "a", "title": "a", "task_type": "docs"},
        {"key": "b", "title": "b", "task_type": "docs"}]})
    _, token = register("worker-001")
    client = unit_client(token)
    assert client.post("/api/v1/workflows", graph_body([("a", "b")]),
                       format="json").status_code == 403
    assert client.get("/api/v1/workflows").status_code == 403
    assert client.get(f"/api/v1/workflows/{created['id']}").status_code == 403
    # It reads the inputs of the task it holds, and of no other task of its type.
    (held,) = client.post("/api/v1/execution-units/worker-001/claim", {"max": 1},
                          format="json").json()["tasks"]
    assert held["id"] == ids(created)["a"]
    response = client.get(f"/api/v1/workflows/{created['id']}/tasks/a/inputs")
    assert response.status_code == 200 and response.json()["inputs"] == {}
    assert client.get(f"/api/v1/workflows/{created['id']}/tasks/b/inputs").status_code == 403
    _, other = register("worker-002")
    assert unit_client(other).get(
        f"/api/v1/workflows/{created['id']}/tasks/a/inputs").status_code == 403


def test_a_unit_cannot_read_the_inputs_of_a_type_it_does_not_serve(rita, step):
    make_task_type("docs", assignee_kind="unit")
    created = create(rita, graph_body([("a", "b")]))  # staff tasks of type "step"
    _, token = register("worker-001")
    response = unit_client(token).get(f"/api/v1/workflows/{created['id']}/tasks/b/inputs")
    assert response.status_code == 404


def test_the_graph_shows_only_the_tasks_the_caller_may_see_by_title(rita, alice, step):
    from tests.workflows.conftest import start

    body = graph_body([("a", "b"), ("a", "c")])
    body["tasks"][2]["title"] = "acquire the rival, quietly"
    created = create(rita, body)
    start(ids(created)["a"], alice)  # alice holds a: she sees the workflow, not b or c
    nodes = {n["key"]: n for n in api_client(alice).get(
        f"/api/v1/workflows/{created['id']}").json()["nodes"]}
    assert nodes["a"]["title"] == "step a" and nodes["a"]["id"] == ids(created)["a"]
    for key in ("b", "c"):
        assert nodes[key] == {"key": key, "id": None, "title": None, "task_type": None,
                              "status": "blocked", "depends_on": ["a"], "waits_for": ["a"]}
    assert b"rival" not in api_client(alice).get(
        f"/api/v1/workflows/{created['id']}").content
    everything = api_client(rita).get(f"/api/v1/workflows/{created['id']}").json()["nodes"]
    assert [n["title"] for n in everything] == ["step a", "step b",
                                                "acquire the rival, quietly"]
