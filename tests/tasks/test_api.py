"""The task API: the contract's success and error paths, and who may do what."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.tasks.models import Task, TaskHistory
from apps.tasks.states import TaskStatus
from tests.builders import (
    api_client,
    create_task,
    history_since_built,
    make_task_type,
    make_user,
    task_in_state,
)

S = TaskStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def kind():
    return make_task_type("document-processing")


def post(user, url, data=None):
    return api_client(user).post(url, data or {}, format="json")


class TestCreate:
    def test_creates_and_submits_at_once(self, alice, kind):
        resp = post(alice, "/api/v1/tasks", {
            "title": "Index KB 7", "task_type": kind.key, "priority": "high",
            "payload": {"doc": 1}, "reference": "kb-7", "labels": ["kb"],
        })
        assert resp.status_code == 201, resp.data
        body = resp.json()
        assert body["status"] == "queued" and body["priority"] == "high"
        assert body["assignee"] is None and body["created_by"] == "alice"
        assert {"id", "created_at", "progress", "estimated_completion", "result"} <= set(body)
        assert TaskHistory.objects.get(task_id=body["id"]).to_status == "queued"

    def test_draft_true_keeps_it_a_draft(self, alice, kind):
        resp = post(alice, "/api/v1/tasks", {"title": "t", "task_type": kind.key, "draft": True})
        assert resp.json()["status"] == "draft"

    def test_default_priority_comes_from_the_type(self, alice):
        urgent = make_task_type(priority=3)
        resp = post(alice, "/api/v1/tasks", {"title": "t", "task_type": urgent.key})
        assert resp.json()["priority"] == "critical"

    @pytest.mark.parametrize("field,value", [
        ("status", "completed"), ("assignee", 1), ("attempts", 5), ("assignee_user", 1),
        ("result", {"x": 1}), ("progress", 100),
    ])
    def test_fields_owned_by_the_life_cycle_cannot_be_written(self, alice, kind, field, value):
        resp = post(alice, "/api/v1/tasks", {"title": "t", "task_type": kind.key, field: value})
        assert resp.status_code == 400
        assert field in resp.json()
        assert not Task.objects.exists()

    @pytest.mark.parametrize("data,field", [
        ({"task_type": "document-processing"}, "title"),
        ({"title": "t"}, "task_type"),
        ({"title": "t", "task_type": "nope"}, "task_type"),
        ({"title": "t", "task_type": "document-processing", "priority": "urgent"}, "priority"),
        ({"title": "t", "task_type": "document-processing", "payload": [1]}, "payload"),
        ({"title": "t", "task_type": "document-processing", "run_at": "yesterday"}, "run_at"),
        ({"title": "t", "task_type": "document-processing", "depends_on": ["x"]}, "depends_on"),
        ({"title": "t", "task_type": "document-processing",
          "depends_on": [str(uuid.uuid4())]}, "depends_on"),
        ({"title": "t", "task_type": "document-processing", "labels": "a"}, "labels"),
        ({"title": "x" * 301, "task_type": "document-processing"}, "title"),
    ])
    def test_invalid_fields_are_a_400_naming_the_field(self, alice, kind, data, field):
        resp = post(alice, "/api/v1/tasks", data)
        assert resp.status_code == 400
        assert field in resp.json()
        assert not Task.objects.exists()

    def test_a_json_body_that_is_not_an_object_is_a_400(self, alice, kind):
        resp = api_client(alice).post("/api/v1/tasks", [1, 2], format="json")
        assert resp.status_code == 400

    def test_depending_on_someone_elses_task_is_refused(self, alice, bob, kind):
        hidden = create_task(by=bob, task_type=kind)
        resp = post(alice, "/api/v1/tasks", {"title": "t", "task_type": kind.key,
                                             "depends_on": [str(hidden.pk)]})
        assert resp.status_code == 400 and "depends_on" in resp.json()

    def test_dependencies_are_stored_and_block(self, alice, kind):
        first = create_task(by=alice, task_type=kind)
        resp = post(alice, "/api/v1/tasks", {"title": "t", "task_type": kind.key,
                                             "depends_on": [str(first.pk)]})
        assert resp.json()["status"] == "blocked"
        assert resp.json()["depends_on"] == [str(first.pk)]


class TestIdempotency:
    def test_the_same_key_returns_the_same_task_with_200(self, alice, kind):
        data = {"title": "t", "task_type": kind.key, "idempotency_key": "order-42"}
        first = post(alice, "/api/v1/tasks", data)
        second = post(alice, "/api/v1/tasks", data)
        assert (first.status_code, second.status_code) == (201, 200)
        assert first.json()["id"] == second.json()["id"]
        assert Task.objects.count() == 1

    def test_keys_belong_to_their_caller(self, alice, bob, kind):
        data = {"title": "t", "task_type": kind.key, "idempotency_key": "order-42"}
        a, b = post(alice, "/api/v1/tasks", data), post(bob, "/api/v1/tasks", data)
        assert (a.status_code, b.status_code) == (201, 201)
        assert a.json()["id"] != b.json()["id"]


class TestBatch:
    def test_creates_all_in_order(self, alice, kind):
        items = [{"title": f"t{i}", "task_type": kind.key} for i in range(5)]
        resp = post(alice, "/api/v1/tasks/batch", {"tasks": items})
        assert resp.status_code == 201
        assert resp.json()["created"] == 5
        ids = [t["id"] for t in resp.json()["tasks"]]
        titles = dict(Task.objects.filter(pk__in=ids).values_list("pk", "title"))
        assert [titles[uuid.UUID(i)] for i in ids] == [f"t{i}" for i in range(5)]
        assert TaskHistory.objects.filter(task_id__in=ids).count() == 5

    def test_one_invalid_item_writes_nothing_and_errors_come_by_index(self, alice, kind):
        items = [{"title": "ok", "task_type": kind.key},
                 {"title": "bad", "task_type": kind.key, "priority": "urgent"},
                 {"title": "ok", "task_type": kind.key},
                 {"task_type": "missing-type"}]
        resp = post(alice, "/api/v1/tasks/batch", {"tasks": items})
        assert resp.status_code == 400
        errors = resp.json()["tasks"]
        assert set(errors) == {"1", "3"}
        assert "priority" in errors["1"]
        assert {"title", "task_type"} <= set(errors["3"])
        assert not Task.objects.exists() and not TaskHistory.objects.exists()

    def test_repeated_idempotency_keys_inside_a_batch_are_refused(self, alice, kind):
        items = [{"title": "a", "task_type": kind.key, "idempotency_key": "k"},
                 {"title": "b", "task_type": kind.key, "idempotency_key": "k"}]
        resp = post(alice, "/api/v1/tasks/batch", {"tasks": items})
        assert resp.status_code == 400
        assert "idempotency_key" in resp.json()["tasks"]["1"]

    def test_known_idempotency_keys_return_the_existing_tasks(self, alice, kind):
        existing = create_task(by=alice, task_type=kind, idempotency_key="k")
        items = [{"title": "a", "task_type": kind.key, "idempotency_key": "k"},
                 {"title": "b", "task_type": kind.key}]
        resp = post(alice, "/api/v1/tasks/batch", {"tasks": items})
        assert resp.json()["created"] == 1
        assert resp.json()["tasks"][0] == {"id": str(existing.pk), "status": "queued",
                                           "created": False}

    def test_more_than_the_limit_is_refused(self, alice, kind, settings):
        items = [{"title": "t", "task_type": kind.key}] * 1001
        resp = post(alice, "/api/v1/tasks/batch", {"tasks": items})
        assert resp.status_code == 400 and "tasks" in resp.json()
        assert not Task.objects.exists()

    @pytest.mark.parametrize("body", [{}, {"tasks": []}, {"tasks": "x"}, [1]])
    def test_malformed_batches_are_a_400(self, alice, body):
        assert api_client(alice).post("/api/v1/tasks/batch", body,
                                      format="json").status_code == 400


class TestReading:
    def test_list_filters_and_paginates(self, alice, kind):
        other = make_task_type("other")
        for _ in range(3):
            create_task(by=alice, task_type=kind, reference="kb-1", priority=2)
        create_task(by=alice, task_type=other, reference="kb-2")
        task_in_state(S.RUNNING, creator=alice, task_type=kind)
        client = api_client(alice)

        def count(query):
            return client.get(f"/api/v1/tasks?{query}").json()["count"]

        assert count("") == 5
        assert count("reference=kb-1") == 3
        assert count("task_type=other") == 1
        assert count("priority=high") == 3
        assert count("status=running") == 1
        assert count("status=running,queued") == 5
        page = client.get("/api/v1/tasks?page_size=2&page=2").json()
        assert len(page["results"]) == 2 and page["next"] and page["previous"]

    def test_a_bad_filter_value_is_a_400(self, alice):
        resp = api_client(alice).get("/api/v1/tasks?status=nonsense")
        assert resp.status_code == 400 and "status" in resp.json()

    def test_the_list_costs_the_same_queries_for_5_or_25_tasks(self, alice, kind):
        def queries_for_list():
            fresh_alice = type(alice).objects.get(pk=alice.pk)  # no role cached from before
            with CaptureQueriesContext(connection) as ctx:
                resp = api_client(fresh_alice).get("/api/v1/tasks?page_size=100")
            assert resp.status_code == 200
            return len(ctx.captured_queries)

        dep = create_task(by=alice, task_type=kind)
        for _ in range(4):
            create_task(by=alice, task_type=kind, depends_on=[dep.pk])
        few = queries_for_list()
        for _ in range(20):
            task_in_state(S.RUNNING, creator=alice, task_type=kind, assignee=make_user(
                f"holder-{uuid.uuid4().hex[:6]}"))
        assert queries_for_list() == few

    def test_detail_shows_the_assignee(self, alice, bob, olga, kind):
        # olga is no member of staff: an operator holding a task by hand is a plain user.
        task = task_in_state(S.RUNNING, creator=alice, assignee=olga, task_type=kind)
        body = api_client(alice).get(f"/api/v1/tasks/{task.pk}").json()
        assert body["assignee"] == {"kind": "user", "id": olga.pk, "user_id": olga.pk,
                                    "name": "olga"}
        assert "pause" in body["allowed_transitions"]
        task = task_in_state(S.RUNNING, creator=alice, assignee=bob, task_type=kind)
        body = api_client(alice).get(f"/api/v1/tasks/{task.pk}").json()
        assert body["assignee"] == {"kind": "staff", "id": bob.staff.pk, "user_id": bob.pk,
                                    "name": "bob"}

    def test_unknown_id_is_a_404(self, alice):
        assert api_client(alice).get(f"/api/v1/tasks/{uuid.uuid4()}").status_code == 404
        assert api_client(alice).get("/api/v1/tasks/not-a-uuid").status_code == 404

    def test_history_lists_every_transition(self, alice, kind):
        task = create_task(by=alice, task_type=kind)
        post(alice, f"/api/v1/tasks/{task.pk}/cancel", {"reason": "not needed"})
        rows = api_client(alice).get(f"/api/v1/tasks/{task.pk}/history").json()["results"]
        assert [(r["transition"], r["to_status"]) for r in rows] == [
            ("create", "queued"), ("cancel", "cancelled")]
        assert rows[1]["actor"]["name"] == "alice" and rows[1]["reason"] == "not needed"


class TestPermissions:
    def test_no_token_is_a_401(self, kind):
        assert api_client().get("/api/v1/tasks").status_code == 401
        assert api_client().post("/api/v1/tasks", {}).status_code == 401

    def test_a_user_cannot_read_anothers_task(self, alice, bob, kind):
        task = create_task(by=alice, task_type=kind)
        assert api_client(bob).get(f"/api/v1/tasks/{task.pk}").status_code == 404
        assert api_client(bob).get("/api/v1/tasks").json()["count"] == 0
        assert api_client(bob).get(f"/api/v1/tasks/{task.pk}/history").status_code == 404
        assert post(bob, f"/api/v1/tasks/{task.pk}/cancel").status_code == 404

    def test_the_assignee_sees_the_task(self, alice, bob, kind):
        task = task_in_state(S.ASSIGNED, creator=alice, assignee=bob, task_type=kind)
        assert api_client(bob).get(f"/api/v1/tasks/{task.pk}").status_code == 200

    def test_managers_and_admins_see_every_task(self, alice, margaret, olga, kind):
        create_task(by=alice, task_type=kind)
        assert api_client(margaret).get("/api/v1/tasks").json()["count"] == 1
        assert api_client(olga).get("/api/v1/tasks").json()["count"] == 1

    def test_a_creator_may_not_reassign_but_a_manager_may(self, alice, bob, margaret, kind):
        task = task_in_state(S.RUNNING, creator=alice, assignee=bob, task_type=kind)
        assert post(alice, f"/api/v1/tasks/{task.pk}/reassign").status_code == 403
        resp = post(margaret, f"/api/v1/tasks/{task.pk}/reassign", {"reason": "bob is out"})
        assert resp.status_code == 200 and resp.json()["status"] == "queued"

    def test_the_assignee_works_the_task_but_may_not_cancel_it(self, alice, bob, kind):
        task = task_in_state(S.ASSIGNED, creator=alice, assignee=bob, task_type=kind)
        assert post(bob, f"/api/v1/tasks/{task.pk}/start").json()["status"] == "running"
        assert post(bob, f"/api/v1/tasks/{task.pk}/cancel").status_code == 403

    def test_only_admins_define_task_types(self, alice, olga):
        data = {"key": "new-type", "name": "New"}
        assert post(alice, "/api/v1/task-types", data).status_code == 403
        assert post(olga, "/api/v1/task-types", data).status_code == 201
        assert api_client(alice).get("/api/v1/task-types/new-type").status_code == 200


class TestTransitions:
    def test_a_forbidden_transition_is_a_409_listing_the_allowed(self, alice, kind):
        task = task_in_state(S.COMPLETED, creator=alice, task_type=kind)
        resp = post(alice, f"/api/v1/tasks/{task.pk}/cancel")
        assert resp.status_code == 409
        assert resp.json()["allowed_transitions"] == [] and resp.json()["status"] == "completed"
        task = task_in_state(S.CANCELLED, creator=alice, task_type=kind)
        resp = post(alice, f"/api/v1/tasks/{task.pk}/cancel")
        assert resp.json()["allowed_transitions"] == ["retry"]

    def test_the_assignee_runs_a_task_to_completion(self, alice, bob, kind):
        task = task_in_state(S.ASSIGNED, creator=alice, assignee=bob, task_type=kind)
        base = f"/api/v1/tasks/{task.pk}"
        for step, expected in [("accept", "running"), ("pause", "paused"),
                               ("resume", "running")]:
            assert post(bob, f"{base}/{step}").json()["status"] == expected
        resp = post(bob, f"{base}/progress", {"progress": 60})
        assert resp.json()["progress"] == 60
        resp = post(bob, f"{base}/complete", {"result": {"pages": 3}})
        assert resp.json()["status"] == "completed" and resp.json()["result"] == {"pages": 3}

    @pytest.mark.parametrize("result", [None, [1, 2], "done", 0])
    def test_a_result_is_any_json_value_null_being_none(self, alice, bob, kind, result):
        task = task_in_state(S.RUNNING, creator=alice, assignee=bob, task_type=kind)
        resp = post(bob, f"/api/v1/tasks/{task.pk}/complete", {"result": result})
        assert resp.status_code == 200, resp.json()
        assert resp.json()["status"] == "completed" and resp.json()["result"] == result

    def test_fail_records_the_error(self, alice, bob):
        kind = make_task_type(max_retries=0)
        task = task_in_state(S.RUNNING, creator=alice, assignee=bob, task_type=kind)
        resp = post(bob, f"/api/v1/tasks/{task.pk}/fail", {"error": "disk full"})
        assert resp.json()["status"] == "failed" and resp.json()["error"] == "disk full"

    def test_progress_out_of_range_is_a_400(self, alice, bob, kind):
        task = task_in_state(S.RUNNING, creator=alice, assignee=bob, task_type=kind)
        resp = post(bob, f"/api/v1/tasks/{task.pk}/progress", {"progress": 101})
        assert resp.status_code == 400 and "progress" in resp.json()

    def test_put_status_maps_onto_the_transition(self, alice, bob, kind):
        task = task_in_state(S.RUNNING, creator=alice, assignee=bob, task_type=kind)
        client = api_client(bob)
        resp = client.put(f"/api/v1/tasks/{task.pk}/status", {"status": "paused"}, format="json")
        assert resp.json()["status"] == "paused"
        resp = client.put(f"/api/v1/tasks/{task.pk}/status", {"status": "completed"},
                          format="json")
        assert resp.status_code == 409 and "resume" in resp.json()["allowed_transitions"]
        resp = client.put(f"/api/v1/tasks/{task.pk}/status", {"status": "done"}, format="json")
        assert resp.status_code == 400 and "status" in resp.json()
        assert history_since_built(task).count() == 1  # the pause; the refusals wrote nothing

    def test_unknown_body_fields_on_a_transition_are_refused(self, alice, kind):
        task = create_task(by=alice, task_type=kind)
        resp = post(alice, f"/api/v1/tasks/{task.pk}/cancel", {"status": "queued"})
        assert resp.status_code == 400 and "status" in resp.json()


class TestLogsAndEdits:
    def test_the_assignee_appends_logs_to_the_current_attempt(self, alice, bob, kind):
        task = task_in_state(S.RUNNING, creator=alice, assignee=bob, task_type=kind, attempts=2)
        base = f"/api/v1/tasks/{task.pk}/logs"
        assert post(bob, base, {"message": "starting"}).status_code == 201
        resp = post(bob, base, {"lines": [{"level": "error", "message": "oops"},
                                          {"message": "retrying"}]})
        assert resp.status_code == 201
        rows = api_client(alice).get(f"{base}?attempt=2").json()["results"]
        assert [(r["level"], r["message"], r["attempt"]) for r in rows] == [
            ("info", "starting", 2), ("error", "oops", 2), ("info", "retrying", 2)]

    def test_a_bad_log_level_is_a_400(self, alice, bob, kind):
        task = task_in_state(S.RUNNING, creator=alice, assignee=bob, task_type=kind)
        resp = post(bob, f"/api/v1/tasks/{task.pk}/logs", {"message": "x", "level": "loud"})
        assert resp.status_code == 400

    def test_the_creator_edits_the_description_but_not_the_status(self, alice, kind):
        task = create_task(by=alice, task_type=kind)
        client = api_client(alice)
        resp = client.patch(f"/api/v1/tasks/{task.pk}", {"title": "renamed", "priority": "low"},
                            format="json")
        assert resp.status_code == 200 and resp.json()["title"] == "renamed"
        resp = client.patch(f"/api/v1/tasks/{task.pk}", {"status": "completed"}, format="json")
        assert resp.status_code == 400 and "status" in resp.json()
        task.refresh_from_db()
        assert task.status == S.QUEUED


def test_openapi_schema_and_swagger_are_served(alice):
    schema = api_client().get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for fragment in ("/api/v1/tasks/{id}/cancel", "/api/v1/tasks/batch", "/api/v1/task-types"):
        assert fragment in text
    assert api_client().get("/api-docs/").status_code == 200


def test_the_create_response_matches_a_fresh_read(alice, kind):
    dep = create_task(by=alice, task_type=kind)
    created = post(alice, "/api/v1/tasks", {"title": "t", "task_type": kind.key,
                                            "depends_on": [str(dep.pk)], "labels": ["a"]})
    read = api_client(alice).get(f"/api/v1/tasks/{created.json()['id']}")
    assert created.status_code == 201
    assert created.json() == read.json()
