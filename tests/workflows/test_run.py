"""A workflow runs on the task life cycle: release in order, inputs from dependencies,
failure propagation per workflow, and a status and progress derived from its tasks."""

from __future__ import annotations

import pytest

from apps.core.actors import Actor
from apps.tasks.models import Task
from apps.tasks.services import task_transition
from tests.builders import api_client, make_task_type
from tests.workflows.conftest import complete, create, fail, graph_body, ids, status

pytestmark = pytest.mark.django_db

DIAMOND = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]


def statuses(task_ids: dict[str, str]) -> dict[str, str]:
    return {k: status(v) for k, v in task_ids.items()}


def detail(user, workflow_id) -> dict:
    response = api_client(user).get(f"/api/v1/workflows/{workflow_id}")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_diamond_releases_each_task_when_its_last_dependency_completes(rita, alice, step):
    t = ids(create(rita, graph_body(DIAMOND)))
    complete(t["a"], alice)
    assert statuses(t) == {"a": "completed", "b": "queued", "c": "queued", "d": "blocked"}
    complete(t["b"], alice)
    assert status(t["d"]) == "blocked"  # c is still open
    complete(t["c"], alice)
    assert status(t["d"]) == "queued"


def test_a_dependants_inputs_are_its_dependencies_results_by_key(rita, alice, step):
    created = create(rita, graph_body(DIAMOND))
    t = ids(created)
    complete(t["a"], alice, result={"rows": 10})
    complete(t["b"], alice, result={"b": True})
    url = f"/api/v1/workflows/{created['id']}/tasks/d/inputs"
    body = api_client(rita).get(url).json()
    assert body == {"key": "d", "task_id": t["d"], "inputs": {"b": {"b": True}},
                    "waiting_for": ["c"]}
    complete(t["c"], alice, result=[1, 2])
    body = api_client(rita).get(url).json()
    assert body["inputs"] == {"b": {"b": True}, "c": [1, 2]} and body["waiting_for"] == []


def test_inputs_of_an_unknown_key_are_a_404(rita, step):
    created = create(rita, graph_body(DIAMOND))
    response = api_client(rita).get(f"/api/v1/workflows/{created['id']}/tasks/zz/inputs")
    assert response.status_code == 404


def test_cancel_downstream_cancels_every_dependant_with_the_reason(rita, alice, step):
    created = create(rita, graph_body([*DIAMOND, ("x", "d")]))
    t = ids(created)
    complete(t["a"], alice)
    fail(t["b"], alice)
    assert statuses(t) == {"a": "completed", "b": "failed", "c": "queued", "d": "cancelled",
                           "x": "queued"}
    reason = Task.objects.get(pk=t["d"]).history.latest("created_at").reason
    assert reason == "workflow 'etl': b ended failed"


def test_cancel_downstream_reaches_dependants_of_dependants(rita, alice, step):
    t = ids(create(rita, graph_body([("a", "b"), ("b", "c"), ("c", "d")])))
    task_transition(task_id=t["a"], action="cancel", by=Actor.for_user(rita))
    assert statuses(t) == dict.fromkeys("abcd", "cancelled")
    workflow = detail(rita, Task.objects.get(pk=t["a"]).workflow_node.workflow_id)
    assert workflow["status"] == "cancelled"


def test_wait_keeps_dependants_blocked_until_the_failed_task_is_retried_and_completes(
        rita, alice, olga, step):
    created = create(rita, graph_body(DIAMOND, on_failure="wait"))
    t = ids(created)
    fail(t["a"], alice)
    assert statuses(t) == {"a": "failed", "b": "blocked", "c": "blocked", "d": "blocked"}
    assert detail(rita, created["id"])["status"] == "stalled"
    response = api_client(olga).post(f"/api/v1/tasks/{t['a']}/retry",
                                     {}, format="json")
    assert response.status_code == 200, response.content
    complete(t["a"], alice)
    assert statuses(t) == {"a": "completed", "b": "queued", "c": "queued", "d": "blocked"}


def test_a_task_outside_any_workflow_is_left_alone_when_it_fails(rita, alice, step):
    from tests.builders import create_task

    first = create_task(by=rita, task_type=step)
    second = create_task(by=rita, task_type=step, depends_on=[first.pk])
    fail(first.pk, alice)
    assert status(second.pk) == "blocked"


def test_status_and_progress_follow_the_tasks(rita, alice, step):
    created = create(rita, graph_body([("a", "b")]))
    t = ids(created)
    assert detail(rita, created["id"])["progress"] == {"done": 0, "total": 2}
    complete(t["a"], alice)
    body = detail(rita, created["id"])
    assert (body["status"], body["progress"]) == ("running", {"done": 1, "total": 2})
    complete(t["b"], alice)
    body = detail(rita, created["id"])
    assert (body["status"], body["progress"]) == ("completed", {"done": 2, "total": 2})


def test_a_failed_workflow_says_failed(rita, alice, step):
    created = create(rita, graph_body([("a", "b")]))
    fail(ids(created)["a"], alice)
    assert detail(rita, created["id"])["status"] == "failed"


def test_the_detail_has_the_graph(rita, alice, step):
    created = create(rita, graph_body(DIAMOND))
    t = ids(created)
    complete(t["a"], alice)
    body = detail(rita, created["id"])
    assert body["edges"] == [list(e) for e in DIAMOND]
    nodes = {n["key"]: n for n in body["nodes"]}
    assert nodes["d"] == {"key": "d", "id": t["d"], "title": "step d", "task_type": "step",
                          "status": "blocked", "depends_on": ["b", "c"],
                          "waits_for": ["b", "c"]}
    assert nodes["b"]["waits_for"] == [] and nodes["b"]["status"] == "queued"


def test_the_list_shows_status_and_progress(rita, step):
    created = create(rita, graph_body(DIAMOND))
    body = api_client(rita).get("/api/v1/workflows").json()
    assert [(w["id"], w["status"], w["progress"]) for w in body["results"]] == [
        (created["id"], "running", {"done": 0, "total": 4})]


def test_cancel_downstream_reaches_the_end_of_a_long_chain_in_one_transaction(
        rita, alice, step):
    keys = [f"k{i}" for i in range(60)]
    t = ids(create(rita, graph_body(list(zip(keys, keys[1:], strict=False)))))
    fail(t["k0"], alice)
    assert set(statuses(t).values()) == {"failed", "cancelled"}
    assert status(t["k59"]) == "cancelled"


def test_a_task_outside_the_workflow_that_depends_on_one_of_its_tasks_is_left_alone(
        rita, alice, step):
    from tests.builders import create_task

    t = ids(create(rita, graph_body([("a", "b")])))
    outside = create_task(by=rita, task_type=step, depends_on=[t["a"]])
    fail(t["a"], alice)
    assert (status(t["b"]), status(outside.pk)) == ("cancelled", "blocked")


def test_cancel_downstream_follows_a_rejected_creation_too(rita, olga, step):
    make_task_type("gated", requires_creation_approval=True)
    body = graph_body([("a", "b")])
    body["tasks"][0]["task_type"] = "gated"
    t = ids(create(rita, body))
    assert statuses(t) == {"a": "pending_approval", "b": "blocked"}
    task_transition(task_id=t["a"], action="reject", by=Actor.for_user(olga), reason="no")
    assert statuses(t) == {"a": "rejected", "b": "cancelled"}
    assert Task.objects.get(pk=t["b"]).history.latest("created_at").reason == (
        "workflow 'etl': a ended rejected")
