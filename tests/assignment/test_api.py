"""Assignment over the API: dry run, reassignment, records, and who may use them."""

from __future__ import annotations

import uuid

import pytest

from apps.assignment import services
from apps.assignment.models import Assignment
from apps.tasks.states import TaskStatus
from tests.builders import api_client, create_task, make_staff, make_task_type, require

S = TaskStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def team_setup(margaret, platform, sam, support, olga):
    """Three people qualified for a review: ann and ben in margaret's platform team, sid in
    sam's support team."""
    kind = require(make_task_type("review"), {"python": 3})
    ann = make_staff("ann", skills={"python": 5}, team=platform)
    ben = make_staff("ben", skills={"python": 4}, team=platform)
    sid = make_staff("sid", skills={"python": 4}, team=support)
    return {"margaret": margaret, "kind": kind, "ann": ann, "ben": ben, "sid": sid,
            "olga": olga, "sam": sam}


def test_the_dry_run_lists_candidates_with_explanations(team_setup):
    task = create_task(by=team_setup["olga"], task_type=team_setup["kind"])
    resp = api_client(team_setup["olga"]).get(f"/api/v1/tasks/{task.pk}/candidates")
    assert resp.status_code == 200
    names = [c["name"] for c in resp.json()]
    assert sorted(names) == ["ann", "ben", "sid"]
    assert all(c["explanation"].startswith("skill python") for c in resp.json())
    assert not Assignment.objects.exists()


def test_a_team_manager_reassigns_their_teams_work_to_a_named_person(team_setup):
    s = team_setup
    task = create_task(by=s["olga"], task_type=s["kind"])
    services.task_reassign(task_id=task.pk, by=services.ENGINE, target=s["ann"].user)
    resp = api_client(s["margaret"]).post(f"/api/v1/tasks/{task.pk}/reassign",
                                          {"target": s["ben"].pk, "reason": "ann is out"},
                                          format="json")
    assert resp.status_code == 200, resp.json()
    assert resp.json()["assignee"]["id"] == s["ben"].pk
    records = api_client(s["margaret"]).get(f"/api/v1/assignments?task={task.pk}").json()
    assert [r["outcome"] for r in records["results"]] == ["accepted", "revoked"]


def test_assignments_filter_by_task_and_person_and_an_unknown_one_finds_none(team_setup):
    s = team_setup
    task = create_task(by=s["olga"], task_type=s["kind"])
    services.task_reassign(task_id=task.pk, by=services.ENGINE, target=s["ann"].user)
    client = api_client(s["olga"])

    def outcomes(query):
        resp = client.get(f"/api/v1/assignments?{query}")
        assert resp.status_code == 200, resp.json()
        return [r["outcome"] for r in resp.json()["results"]]

    assert outcomes(f"task={task.pk}&assignee_user={s['ann'].user_id}") == ["accepted"]
    assert outcomes(f"task={uuid.uuid4()}") == []
    assert outcomes("assignee_user=999999") == []
    for bad in ("task=nope", "assignee_user=0"):
        resp = client.get(f"/api/v1/assignments?{bad}")
        assert resp.status_code == 400 and bad.split("=")[0] in resp.json()


def test_a_manager_of_another_team_may_not_reassign_it(team_setup):
    s = team_setup
    task = create_task(by=s["olga"], task_type=s["kind"])
    services.task_reassign(task_id=task.pk, by=services.ENGINE, target=s["ann"].user)
    resp = api_client(s["sam"]).post(f"/api/v1/tasks/{task.pk}/reassign", {}, format="json")
    assert resp.status_code == 403


def test_a_staff_member_may_not_reassign_or_see_candidates(team_setup):
    s = team_setup
    task = create_task(by=s["ann"].user, task_type=s["kind"])
    client = api_client(s["ann"].user)
    assert client.post(f"/api/v1/tasks/{task.pk}/reassign", {}, format="json").status_code == 403
    assert client.get(f"/api/v1/tasks/{task.pk}/candidates").status_code == 403


def test_an_unqualified_target_is_a_409_unless_forced(team_setup):
    s = team_setup
    novice = make_staff("novice", skills={"python": 1})
    task = create_task(by=s["olga"], task_type=s["kind"])
    client = api_client(s["olga"])
    resp = client.post(f"/api/v1/tasks/{task.pk}/reassign", {"target": novice.pk}, format="json")
    assert resp.status_code == 409
    resp = client.post(f"/api/v1/tasks/{task.pk}/reassign", {"target": novice.pk, "force": True},
                       format="json")
    assert resp.status_code == 200 and resp.json()["status"] == "assigned"


def test_bad_reassign_input_is_a_400(team_setup):
    s = team_setup
    task = create_task(by=s["olga"], task_type=s["kind"])
    client = api_client(s["olga"])
    resp = client.post(f"/api/v1/tasks/{task.pk}/reassign", {"target": 999999}, format="json")
    assert resp.status_code == 400 and "target" in resp.json()
    resp = client.post(f"/api/v1/tasks/{task.pk}/reassign", {"assignee": 1}, format="json")
    assert resp.status_code == 400 and "assignee" in resp.json()


def test_assignment_records_follow_task_visibility(team_setup, mallory):
    s = team_setup
    task = create_task(by=s["olga"], task_type=s["kind"])
    services.assign_queued()
    outsider = mallory
    assert api_client(outsider).get("/api/v1/assignments").json()["count"] == 0
    assert api_client(s["olga"]).get("/api/v1/assignments").json()["count"] == 1
    assert api_client().get("/api/v1/assignments").status_code == 401
    assert api_client(outsider).get(f"/api/v1/tasks/{task.pk}/candidates").status_code == 404


def test_stats_count_unassignable_work_for_managers_only(team_setup):
    s = team_setup
    create_task(by=s["olga"], task_type=require(make_task_type("cobol"), {"cobol": 5}))
    create_task(by=s["olga"], task_type=s["kind"])
    services.assign_queued()
    body = api_client(s["margaret"]).get("/api/v1/stats/assignment").json()
    assert (body["queued_for_staff"], body["unassignable"]) == (1, 1)
    assert body["outcomes"]["accepted"] == 1
    staff = api_client(s["olga"]).get("/api/v1/stats/staff").json()["staff"]
    assert sum(row["load"] for row in staff) == 1
    assert api_client(s["ann"].user).get("/api/v1/stats/assignment").status_code == 403
    assert api_client().get("/api/v1/stats/staff").status_code == 401
