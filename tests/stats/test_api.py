"""The stats endpoints: who may see what (the cast), bad parameters named, the schema, and
query counts that do not grow with the data."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.builders import api_client, make_staff, make_task_type, task_in_state
from tests.execution.conftest import register, unit_client

pytestmark = pytest.mark.django_db

SYSTEM = ["/api/v1/stats/overview", "/api/v1/stats/queues", "/api/v1/stats/workers"]
STAFF = "/api/v1/stats/staff"


def usernames(resp) -> set[str]:
    assert resp.status_code == 200, resp.content
    return {p["username"] for p in resp.json()["staff"]}


@pytest.mark.parametrize("path", SYSTEM)
def test_admins_and_managers_see_the_system_figures(path, olga, margaret, sam, support):
    for user in (olga, margaret, sam):
        assert api_client(user).get(path).status_code == 200, user


@pytest.mark.parametrize("path", SYSTEM)
def test_staff_and_outsiders_do_not(path, alice, amos, mallory):
    for user in (alice, amos, mallory):
        resp = api_client(user).get(path)
        assert resp.status_code == 403, user
        assert resp.json()["code"] == "permission_denied"
    assert api_client().get(path).status_code == 401


@pytest.mark.parametrize("path", [*SYSTEM, STAFF])
def test_an_execution_unit_gets_nothing(path):
    make_task_type("docs", assignee_kind="unit")
    _, token = register("worker-stats")
    assert unit_client(token).get(path).status_code == 403


def test_who_sees_whose_staff_figures(olga, margaret, sam, alice, rita, bob, mallory, amos):
    everyone = {"alice", "rita", "bob", "mallory"}
    assert usernames(api_client(olga).get(STAFF)) == everyone
    assert usernames(api_client(margaret).get(STAFF)) == everyone  # the managers group
    assert usernames(api_client(sam).get(STAFF)) == {"bob"}  # his team, not platform
    assert usernames(api_client(alice).get(STAFF)) == {"alice"}  # herself only
    assert usernames(api_client(mallory).get(STAFF)) == {"mallory"}
    assert api_client(amos).get(STAFF).status_code == 403  # no staff record, no team
    assert api_client().get(STAFF).status_code == 401


def test_a_team_filter_narrows_and_cannot_widen(olga, sam, alice, bob, platform):
    assert usernames(api_client(olga).get(STAFF, {"team": platform.pk})) == {"alice"}
    assert usernames(api_client(sam).get(STAFF, {"team": platform.pk})) == set()


@pytest.mark.parametrize("params, field", [
    ({"hours": "0"}, "hours"), ({"hours": "721"}, "hours"), ({"hours": "x"}, "hours"),
    ({"team": "x"}, "team"), ({"team": "99999999999"}, "team"),
])
def test_bad_parameters_are_a_400_naming_them(olga, params, field):
    resp = api_client(olga).get(STAFF, params)
    assert resp.status_code == 400
    assert field in resp.json()


def test_the_overview_answer(olga, alice):
    kind = make_task_type(max_retries=0)
    task_in_state("completed", creator=alice, task_type=kind)
    task_in_state("queued", creator=alice, task_type=kind)

    body = api_client(olga).get("/api/v1/stats/overview").json()

    assert body["counts"]["completed"] == 1 and body["counts"]["queued"] == 1
    assert body["open"] == 1
    assert body["last_hour"] == {"completed": 1, "failed": 0}
    assert body["completion_rate"] == 1.0
    assert body["durations"]["sample"] == 1
    assert body["sla"] == {"overdue_open": 0, "completed_late": 0}


def test_the_queues_and_workers_answers(olga, alice):
    kind = make_task_type("mail")
    task_in_state("queued", creator=alice, task_type=kind)
    make_task_type("docs", assignee_kind="unit")
    register("worker-1", capacity=3)

    queues = api_client(olga).get("/api/v1/stats/queues").json()
    workers = api_client(olga).get("/api/v1/stats/workers").json()

    assert queues["total_depth"] == 1
    assert [(r["task_type"], r["priority"], r["depth"]) for r in queues["by_type"]] == [
        ("mail", "normal", 1)]
    assert queues["by_queue"][0]["queue"] == "default"
    assert workers["online"] == 1
    assert workers["by_type"][0]["unit_type"] == "docs"
    assert workers["by_type"][0]["capacity"] == 3


def queries_for(user, path) -> int:
    client = api_client(user)
    client.get(path)  # warm: the caller's roles are cached per request, types per process
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


def add_work(alice, team, kinds, *, people: int, tasks: int, first: int = 0) -> None:
    for i in range(first, first + people):
        make_staff(f"p{i}", team=team)
    for i in range(tasks):
        task_in_state(["completed", "failed", "queued"][i % 3], creator=alice,
                      assignee=alice if i % 3 < 2 else None, task_type=kinds[i % len(kinds)])


@pytest.mark.parametrize("path", [*SYSTEM, STAFF])
def test_queries_do_not_grow_with_the_data(path, olga, alice, platform):
    kinds = [make_task_type(max_retries=0) for _ in range(3)]
    make_task_type("docs", assignee_kind="unit")
    register("worker-a")
    add_work(alice, platform, kinds[:1], people=1, tasks=3)
    before = queries_for(olga, path)

    add_work(alice, platform, kinds, people=10, tasks=12, first=1)
    register("worker-b", unit_type="ocr")

    assert queries_for(olga, path) == before


def test_the_schema_documents_every_status(olga):
    schema = api_client(olga).get("/api/schema/", {"format": "json"}).json()
    for path in [*SYSTEM, STAFF]:
        codes = set(schema["paths"][path]["get"]["responses"])
        assert {"200", "401", "403", "429"} <= codes, path
    assert "400" in schema["paths"][STAFF]["get"]["responses"]
