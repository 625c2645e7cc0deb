"""Registering units, and a unit's token acting for that unit alone."""

from __future__ import annotations

import pytest

from apps.execution.models import ExecutionUnit
from apps.execution.services import token_hash
from tests.builders import api_client
from tests.execution.conftest import register, unit_client

pytestmark = pytest.mark.django_db
BODY = {"id": "worker-001", "unit_type": "docs", "name": "Worker 1", "capacity": 4,
        "endpoint": "http://10.0.0.5:9000", "labels": ["gpu"]}


def test_an_admin_registers_a_unit_and_gets_its_token_once(olga):
    response = api_client(olga).post("/api/v1/execution-units/register", BODY)

    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith("tmu_")
    assert body["unit"] | {"registered_at": None} == body["unit"] | {
        "id": "worker-001", "unit_type": "docs", "name": "Worker 1", "status": "online",
        "capacity": 4, "held": 0, "labels": ["gpu"], "registered_at": None}
    unit = ExecutionUnit.objects.get(unit_id="worker-001")
    assert unit.token_hash == token_hash(raw=body["token"]) and body["token"] not in str(
        vars(unit))


def test_nobody_else_registers_a_unit(alice, mallory):
    assert api_client().post("/api/v1/execution-units/register", BODY).status_code == 403
    assert api_client(alice).post("/api/v1/execution-units/register", BODY).status_code == 403
    assert not ExecutionUnit.objects.exists()


def test_the_registration_secret_of_its_type_registers_a_unit(settings):
    settings.UNIT_REGISTRATION_SECRETS = {"docs": "s3cret-docs"}
    client = api_client()

    wrong = client.post("/api/v1/execution-units/register", BODY,
                        HTTP_X_REGISTRATION_SECRET="s3cret-other")
    other_type = client.post("/api/v1/execution-units/register", {**BODY, "unit_type": "ml"},
                             HTTP_X_REGISTRATION_SECRET="s3cret-docs")
    right = client.post("/api/v1/execution-units/register", BODY,
                        HTTP_X_REGISTRATION_SECRET="s3cret-docs")

    assert (wrong.status_code, other_type.status_code, right.status_code) == (403, 403, 201)


def test_registering_again_rotates_the_token_only_for_the_unit_itself_or_an_admin(settings,
                                                                                  olga):
    settings.UNIT_REGISTRATION_SECRETS = {"docs": "s3cret"}
    _, token = register("worker-001")

    squatter = api_client().post("/api/v1/execution-units/register", BODY,
                                 HTTP_X_REGISTRATION_SECRET="s3cret")
    itself = unit_client(token).post("/api/v1/execution-units/register", BODY)

    assert squatter.status_code == 403
    assert itself.status_code == 200
    new_token = itself.json()["token"]
    assert new_token != token
    old = unit_client(token).post("/api/v1/execution-units/worker-001/heartbeat", {})
    assert old.status_code == 401
    assert unit_client(new_token).post("/api/v1/execution-units/worker-001/heartbeat",
                                       {}).status_code == 200
    assert api_client(olga).post("/api/v1/execution-units/register",
                                 BODY).status_code == 200


def test_a_unit_token_acts_for_that_unit_alone(docs):
    _, token = register("worker-001")
    register("worker-002")
    me = unit_client(token)

    assert me.post("/api/v1/execution-units/worker-002/heartbeat", {}).status_code == 403
    assert me.post("/api/v1/execution-units/worker-002/claim", {}).status_code == 403
    assert me.post("/api/v1/execution-units/worker-002/drain").status_code == 403
    assert me.get("/api/v1/execution-units/worker-002").status_code == 403
    assert me.post("/api/v1/execution-units/register",
                   {**BODY, "id": "worker-002"}).status_code == 403


@pytest.mark.parametrize("method,url", [
    ("get", "/api/v1/tasks"), ("post", "/api/v1/tasks"), ("get", "/api/v1/staff"),
    ("get", "/api/v1/task-types"), ("get", "/api/v1/execution-units"),
    ("get", "/api/v1/approvals"), ("get", "/api/v1/me/tasks"),
    ("delete", "/api/v1/execution-units/worker-001"),
])
def test_a_unit_token_is_refused_on_staff_and_admin_endpoints(method, url):
    _, token = register("worker-001")

    assert getattr(unit_client(token), method)(url).status_code == 403


def test_people_do_not_beat_or_claim_for_a_unit(olga, alice):
    register("worker-001")
    for client in (api_client(olga), api_client(alice)):
        assert client.post("/api/v1/execution-units/worker-001/heartbeat",
                           {}).status_code == 403
        assert client.post("/api/v1/execution-units/worker-001/claim", {}).status_code == 403
    assert api_client().post("/api/v1/execution-units/worker-001/heartbeat",
                             {}).status_code == 401


def test_units_are_listed_for_admins_and_managers_only(olga, margaret, alice):
    register("worker-001")

    assert api_client(olga).get("/api/v1/execution-units").json()["count"] == 1
    assert api_client(margaret).get("/api/v1/execution-units").status_code == 200
    assert api_client(alice).get("/api/v1/execution-units").status_code == 403
    assert api_client(alice).get("/api/v1/execution-units/worker-001").status_code == 403


@pytest.mark.parametrize("field,value", [
    ("id", "bad id/with slash"), ("id", ""), ("capacity", 0), ("capacity", 10**9),
    ("labels", "gpu"), ("unit_type", "not a slug"), ("heartbeat_timeout", 0),
])
def test_bad_registrations_name_the_field(olga, field, value):
    response = api_client(olga).post("/api/v1/execution-units/register", {**BODY, field: value})

    assert response.status_code == 400 and field in response.json()


UNIT_ENDPOINTS = [
    ("post", "/api/v1/execution-units/worker-001/heartbeat", {}),
    ("post", "/api/v1/execution-units/worker-001/claim", {"max": 1}),
    ("post", "/api/v1/execution-units/worker-001/results",
     {"results": [{"task_id": "0b4d8e52-8c1a-4f5e-9a39-1d2f3c4b5a69", "outcome": "completed"}]}),
    ("post", "/api/v1/execution-units/worker-001/drain", {}),
    ("post", "/api/v1/execution-units/worker-001/undrain", {}),
    ("get", "/api/v1/execution-units/worker-001", None),
    ("delete", "/api/v1/execution-units/worker-001", None),
    ("get", "/api/v1/execution-units", None),
    ("get", "/api/v1/stats/workers", None),
]


@pytest.mark.parametrize("method,url,body", UNIT_ENDPOINTS)
def test_every_unit_endpoint_refuses_who_must_not_get_in(method, url, body, alice):
    register("worker-001")
    _, stranger = register("worker-002")

    def call(client):
        return getattr(client, method)(url, body, format="json") if body is not None else (
            getattr(client, method)(url))

    assert call(api_client()).status_code == 401  # anonymous
    assert call(api_client(alice)).status_code == 403  # a staff member
    assert call(unit_client(stranger)).status_code == 403  # another unit


def test_heartbeat_metadata_is_a_few_metrics_not_a_file(docs):
    _, token = register("worker-001")

    response = unit_client(token).post("/api/v1/execution-units/worker-001/heartbeat",
                                       {"metadata": {"log": "x" * 9000}})

    assert response.status_code == 400 and "metadata" in response.json()
