"""Sharded tasks: split into shards spread over the units, finished when every shard is, failed
by the type's policy, retried one shard at a time, reduced into the parent's result."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection

from apps.core.actors import Actor
from apps.execution import services
from apps.execution.models import ExecutionUnit
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus as S
from tests.builders import api_client, create_task, field_errors, make_task_type
from tests.execution.conftest import register, unit_client

pytestmark = pytest.mark.django_db
TESTS = Actor.system("tests")


def sharded_type(*, max_retries: int = 0, **params):
    return make_task_type("docs", assignee_kind="unit", strategy="sharding_broadcast",
                          strategy_params=params, max_retries=max_retries)


def claim(token: str, unit_id: str, n: int = 10) -> list[dict]:
    response = unit_client(token).post(f"/api/v1/execution-units/{unit_id}/claim", {"max": n})
    assert response.status_code == 200, response.json()
    return response.json()["tasks"]


def finish(token: str, task: dict, result=None, *, fail: str = "", retryable: bool = True):
    if fail:
        body = {"error": fail, "retryable": retryable}
        response = unit_client(token).post(f"/api/v1/tasks/{task['id']}/fail", body,
                                           format="json")
    else:
        response = unit_client(token).post(f"/api/v1/tasks/{task['id']}/complete",
                                           {"result": result}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def shards_of(parent: Task) -> list[Task]:
    return list(parent.children.order_by("shard_index"))


@pytest.fixture
def units():
    """Three units of the type, with their tokens."""
    return {uid: register(uid, capacity=4)[1] for uid in ("w1", "w2", "w3")}


def test_a_sharded_task_becomes_its_shards_spread_one_per_unit(olga, units):
    docs = sharded_type()
    parent = create_task(by=olga, task_type=docs, shard_count=3, payload={"file": "a.pdf"})

    got = {uid: claim(token, uid) for uid, token in units.items()}

    assert all(len(tasks) == 1 for tasks in got.values())  # one shard each
    parent.refresh_from_db()
    assert parent.status == S.RUNNING and parent.assignee_unit is None
    shards = shards_of(parent)
    assert [(s.shard_index, s.shard_count) for s in shards] == [(0, 3), (1, 3), (2, 3)]
    assert all(s.payload == {"file": "a.pdf"} for s in shards)
    claimed = {t["id"]: t for tasks in got.values() for t in tasks}
    assert sorted((t["shard_index"], t["shard_count"], t["parent"]) for t in claimed.values()) \
        == [(i, 3, str(parent.pk)) for i in range(3)]


def test_the_parent_completes_only_when_every_shard_has_with_their_results_reduced(olga, units):
    docs = sharded_type(reduce="sum")
    parent = create_task(by=olga, task_type=docs, shard_count=3)
    got = [t for uid, token in units.items() for t in claim(token, uid)]
    by_task = {t["id"]: units[t["assignee"]["id"]] for t in got}
    ordered = sorted(got, key=lambda t: t["shard_index"])

    finish(by_task[ordered[0]["id"]], ordered[0], 10)
    finish(by_task[ordered[1]["id"]], ordered[1], 20)
    parent.refresh_from_db()
    assert parent.status == S.RUNNING and parent.progress == 66

    finish(by_task[ordered[2]["id"]], ordered[2], 12)
    parent.refresh_from_db()
    assert parent.status == S.COMPLETED and parent.result == 42 and parent.progress == 100
    assert parent.history.last().transition == "join"


def test_collect_is_the_default_reduce_in_shard_order(olga, units):
    docs = sharded_type()
    parent = create_task(by=olga, task_type=docs, shard_count=2)
    (w1_shard,) = claim(units["w1"], "w1")
    (w2_shard,) = claim(units["w2"], "w2")

    # Reported out of order: the parent's result is still in shard order.
    finish(units["w2"], w2_shard, {"shard": w2_shard["shard_index"]})
    finish(units["w1"], w1_shard, {"shard": w1_shard["shard_index"]})

    parent.refresh_from_db()
    assert parent.result == [{"shard": 0}, {"shard": 1}]


def test_a_shards_retryable_failure_retries_that_shard_alone(olga, units):
    docs = sharded_type(max_retries=2)
    parent = create_task(by=olga, task_type=docs, shard_count=3)
    got = {uid: claim(token, uid)[0] for uid, token in units.items()}

    finish(units["w1"], got["w1"], fail="disk full")

    shards = shards_of(parent)
    assert sorted(s.status for s in shards) == [S.RUNNING, S.RUNNING, S.SCHEDULED]
    assert Task.objects.get(pk=parent.pk).status == S.RUNNING
    assert len(shards) == 3  # no new shard was made


def three_shards_one_done_one_failed(olga, units, error: str):
    """A parent of three shards, one per unit: w2's completed, w1's failed for good."""
    parent = create_task(by=olga, task_type=sharded_type(), shard_count=3)
    got = {uid: claim(token, uid)[0] for uid, token in units.items()}
    finish(units["w2"], got["w2"], "ok")
    finish(units["w1"], got["w1"], fail=error, retryable=False)
    return parent, got


def test_a_shard_failed_for_good_fails_the_parent_and_cancels_the_others(olga, units):
    parent, got = three_shards_one_done_one_failed(olga, units, "corrupt page")

    parent.refresh_from_db()
    assert parent.status == S.FAILED
    assert parent.error == f"shard {got['w1']['shard_index'] + 1}/3 failed: corrupt page"
    statuses = {str(s.pk): s.status for s in shards_of(parent)}
    assert statuses == {got["w1"]["id"]: S.FAILED, got["w2"]["id"]: S.COMPLETED,
                        got["w3"]["id"]: S.CANCELLED}
    # The unit whose shard was cancelled hears of it: its report is refused.
    assert unit_client(units["w3"]).post(f"/api/v1/tasks/{got['w3']['id']}/complete",
                                         {}).status_code == 409


def test_retrying_a_failed_parent_runs_only_the_shards_that_did_not_complete(olga, units):
    parent, got = three_shards_one_done_one_failed(olga, units, "flaky")
    completed_id = got["w2"]["id"]

    response = api_client(olga).post(f"/api/v1/tasks/{parent.pk}/retry")

    assert response.status_code == 200, response.json()
    rerun = [t for uid, token in units.items() for t in claim(token, uid)]
    assert sorted(t["id"] for t in rerun) == sorted([got["w1"]["id"], got["w3"]["id"]])
    assert Task.objects.get(pk=completed_id).attempts == 1
    for t in rerun:
        finish(units[t["assignee"]["id"]], t, "again")
    parent.refresh_from_db()
    assert parent.status == S.COMPLETED and len(parent.result) == 3
    assert parent.attempts == 2 and len(shards_of(parent)) == 3


def test_with_on_shard_failure_wait_the_parent_waits_for_the_shard_retried_by_hand(olga,
                                                                                  units):
    docs = sharded_type(on_shard_failure="wait")
    parent = create_task(by=olga, task_type=docs, shard_count=2)
    (a,) = claim(units["w1"], "w1")
    (b,) = claim(units["w2"], "w2")
    finish(units["w1"], a, 1)
    finish(units["w2"], b, fail="bad input", retryable=False)
    assert Task.objects.get(pk=parent.pk).status == S.RUNNING

    assert api_client(olga).post(f"/api/v1/tasks/{b['id']}/retry").status_code == 200
    (again,) = [t for uid, token in units.items() for t in claim(token, uid)]
    finish(units[again["assignee"]["id"]], again, 2)

    parent.refresh_from_db()
    assert parent.status == S.COMPLETED and parent.result == [1, 2]


def test_a_reduce_that_cannot_read_the_results_fails_the_parent_with_why(olga, units):
    docs = sharded_type(reduce="sum")
    parent = create_task(by=olga, task_type=docs, shard_count=1)
    (shard,) = [t for uid, token in units.items() for t in claim(token, uid)]

    finish(units[shard["assignee"]["id"]], shard, "not a number")

    parent.refresh_from_db()
    assert parent.status == S.FAILED
    assert parent.error == "reduce sum: sum: every shard's result must be a number"


def test_cancelling_the_parent_cancels_its_open_shards(olga, units):
    docs = sharded_type()
    parent = create_task(by=olga, task_type=docs, shard_count=3)
    claim(units["w1"], "w1")

    assert api_client(olga).post(f"/api/v1/tasks/{parent.pk}/cancel").status_code == 200

    assert {s.status for s in shards_of(parent)} == {S.CANCELLED}
    assert ExecutionUnit.objects.get(unit_id="w1").held == 0


def test_without_a_count_a_broadcast_task_gets_one_shard_per_eligible_unit(olga, units):
    docs = sharded_type()
    register("w-busy", capacity=4, labels=["x"])  # four units online
    parent = create_task(by=olga, task_type=docs)

    services.units_sweep()

    parent.refresh_from_db()
    assert parent.shard_count == 4 and len(shards_of(parent)) == 4
    assert Task.objects.filter(parent=parent, status=S.ASSIGNED).values(
        "assignee_unit").distinct().count() == 4


def test_a_split_parent_takes_no_transition_meant_for_held_work(olga, units):
    docs = sharded_type()
    parent = create_task(by=olga, task_type=docs, shard_count=2)
    services.units_sweep()
    client = api_client(olga)

    for action in ("complete", "pause", "fail"):
        response = client.post(f"/api/v1/tasks/{parent.pk}/{action}", {}, format="json")
        assert response.status_code == 409, (action, response.json())
        assert response.json()["allowed_transitions"] == ["cancel"]


def test_shard_count_is_for_unit_work_only_a_400_naming_the_field(olga):
    make_task_type("review")
    client = api_client(olga)
    response = client.post("/api/v1/tasks", {"title": "t", "task_type": "review",
                                             "shard_count": 2}, format="json")
    assert response.status_code == 400
    assert "shard_count" in field_errors(response)
    make_task_type("docs", assignee_kind="unit")
    for bad in (0, 1001, "two", True):
        response = client.post("/api/v1/tasks", {"title": "t", "task_type": "docs",
                                                 "shard_count": bad}, format="json")
        assert response.status_code == 400, bad
        assert "shard_count" in field_errors(response)


def test_a_pull_types_sharded_task_is_split_and_claimed_by_whoever_asks(olga, units):
    docs = make_task_type("docs", assignee_kind="unit")
    parent = create_task(by=olga, task_type=docs, shard_count=3)

    got = claim(units["w1"], "w1")

    assert sorted(t["shard_index"] for t in got) == [0, 1, 2]
    assert Task.objects.get(pk=parent.pk).status == S.RUNNING


def test_invalid_sharding_params_are_a_400_when_the_type_is_saved(olga):
    client = api_client(olga)
    for params, word in (({"reduce": "avg"}, "reduce"), ({"on_shard_failure": "x"},
                                                          "on_shard_failure")):
        response = client.post("/api/v1/task-types", {
            "key": "docs", "name": "Docs", "assignee_kind": "unit",
            "strategy": "sharding_broadcast", "strategy_params": params}, format="json")
        assert response.status_code == 400
        assert word in field_errors(response)["strategy_params"][0]


@pytest.mark.django_db(transaction=True)
def test_shards_completing_at_once_on_different_units_complete_the_parent_once(olga):
    if connection.vendor != "postgresql":
        pytest.skip("real concurrent transactions need PostgreSQL")
    docs = sharded_type(reduce="sum")
    tokens = {uid: register(uid, capacity=4)[1] for uid in ("w1", "w2", "w3", "w4")}
    parent = create_task(by=olga, task_type=docs, shard_count=4)
    got = {uid: claim(token, uid)[0] for uid, token in tokens.items()}
    barrier = threading.Barrier(4)
    codes = []

    def complete(uid):
        try:
            barrier.wait()
            codes.append(unit_client(tokens[uid]).post(
                f"/api/v1/tasks/{got[uid]['id']}/complete", {"result": 1},
                format="json").status_code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=complete, args=(uid,)) for uid in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert codes == [200] * 4
    parent.refresh_from_db()
    assert parent.status == S.COMPLETED and parent.result == 4
    assert parent.history.filter(transition="join").count() == 1



def test_the_parents_admin_page_lists_its_shards_and_their_units(olga, units, client):
    docs = sharded_type()
    parent = create_task(by=olga, task_type=docs, shard_count=2)
    services.units_sweep()
    client.force_login(olga)

    page = client.get(f"/admin/tasks/task/{parent.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "Shards" in text and text.count("[shard ") >= 2
    assert "w1" in text and "w2" in text
    shard = parent.children.get(shard_index=1)
    page = client.get(f"/admin/tasks/task/{shard.pk}/change/")
    assert page.status_code == 200 and "Shards" not in page.content.decode()


def test_a_parents_shards_are_listed_with_the_parent_filter(olga, units):
    docs = sharded_type()
    parent = create_task(by=olga, task_type=docs, shard_count=3)
    create_task(by=olga, task_type=docs, shard_count=2)  # another parent's shards: not listed
    services.units_sweep()
    client = api_client(olga)

    listed = client.get(f"/api/v1/tasks?parent={parent.pk}").json()["results"]

    assert sorted(t["shard_index"] for t in listed) == [0, 1, 2]
    for bad_value in ("not-a-uuid", ""):
        bad = client.get(f"/api/v1/tasks?parent={bad_value}")
        assert bad.status_code == 400 and "parent" in field_errors(bad)
