"""Workflows' fixtures: a staff task type, and moving a workflow's tasks through the task
services as the people doing them would."""

from __future__ import annotations

import pytest

from apps.core.actors import Actor
from apps.tasks.models import Task
from apps.tasks.services import task_assign, task_complete, task_transition
from tests.builders import api_client, make_task_type


@pytest.fixture
def step():
    """The task type of these graphs: done by staff, no retries (a failure is final)."""
    return make_task_type("step", max_retries=0)


def graph_body(edges, *, keys=None, on_failure="cancel_downstream", name="etl", **fields):
    """A create body: one task per key (the keys of `edges`, or `keys`)."""
    keys = keys or list(dict.fromkeys(k for edge in edges for k in edge))
    return {"name": name, "on_failure": on_failure,
            "tasks": [{"key": k, "title": f"step {k}", "task_type": "step", **fields}
                      for k in keys],
            "edges": [list(e) for e in edges]}


def create(user, body) -> dict:
    response = api_client(user).post("/api/v1/workflows", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def ids(created: dict) -> dict[str, str]:
    return {t["key"]: t["id"] for t in created["tasks"]}


def status(task_id) -> str:
    return Task.objects.values_list("status", flat=True).get(pk=task_id)


def start(task_id, who) -> None:
    task_assign(task_id=task_id, user=who, by=Actor.system("tests"))
    task_transition(task_id=task_id, action="start", by=Actor.for_user(who))


def complete(task_id, who, result=None) -> None:
    start(task_id, who)
    task_complete(task_id=task_id, result=result, by=Actor.for_user(who))


def fail(task_id, who) -> None:
    start(task_id, who)
    task_transition(task_id=task_id, action="fail", by=Actor.for_user(who), error="boom")
