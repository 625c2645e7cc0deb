"""Hostile input is refused at the edge with a 400 that names the place and always renders.

The JSON parser (apps.core.parsers) limits size and nesting and refuses what PostgreSQL cannot
store; the middleware (apps.core.middleware) refuses a NUL in the path.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.staff.models import Leave, Staff
from apps.tasks.models import Task, TaskType
from tests.builders import api_client, make_staff, make_task_type, make_user
from tests.core.test_api_errors import api_routes, assert_error_shape

pytestmark = pytest.mark.django_db

SURROGATE = '"\\ud800"'  # as JSON text: a lone surrogate escape
NUL = '"a\\u0000b"'


def send(user, method: str, url: str, raw: str):
    client = api_client(user) if user is not None else api_client()
    return client.generic(method.upper(), url, raw, content_type="application/json")


def task_body(**overrides: str) -> str:
    fields = {"title": '"t"', "task_type": '"doc"', **overrides}
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"


@pytest.fixture
def doc():
    return make_task_type("doc")


@pytest.fixture
def sam(mallory):
    return mallory


@pytest.mark.parametrize("field,value", [
    ("priority", SURROGATE), ("task_type", SURROGATE), ("payload", '{"note": ' + SURROGATE + "}"),
    ("payload", '{"note": ' + NUL + "}"), ("task_type", NUL), ("title", NUL),
    ("payload", "{" + SURROGATE + ': 1}'), ("labels", "[" + NUL + "]"),
])
@pytest.mark.parametrize("debug", [False, True])
def test_strings_postgresql_cannot_store_are_a_400_naming_the_field(
        sam, doc, settings, field, value, debug):
    settings.DEBUG = debug
    response = send(sam, "post", "/api/v1/tasks", task_body(**{field: value}))

    body = assert_error_shape(response, 400)
    assert body[field][0].startswith(("Contains", "A key contains"))
    assert not Task.objects.exists()


def test_the_message_names_where_in_a_nested_value(sam, doc):
    raw = task_body(payload='{"items": [{"ok": "x"}, {"note": ' + NUL + "}]}")
    body = send(sam, "post", "/api/v1/tasks", raw).json()
    assert body["payload"] == [
        "Contains a NUL character, which cannot be stored. (at payload.items[1].note)"]


def test_a_nul_in_a_task_types_strategy_params_is_a_400(doc):
    admin = make_user("root", admin=True)
    raw = '{"key": "k", "name": "K", "strategy_params": {"x": ' + NUL + "}}"
    body = assert_error_shape(send(admin, "post", "/api/v1/task-types", raw), 400)
    assert "strategy_params" in body
    assert not TaskType.objects.filter(key="k").exists()


def test_a_nul_in_the_path_is_a_400(sam):
    body = assert_error_shape(api_client(sam).get("/api/v1/task-types/%00"), 400)
    assert body["code"] == "invalid_path"


@pytest.fixture
def every_kind_of_object():
    """One of each resource, so that every write route finds its object and parses its body;
    returns the id to put in a route after each resource's path segment."""
    from apps.core.actors import Actor
    from apps.execution.services import unit_register
    from apps.knowledge.services import document_add
    from apps.schedules.services import schedule_create
    from apps.staff.models import Skill, Team
    from tests.builders import create_task, make_leave

    admin = make_user("root", admin=True)
    staff = make_staff("ann")
    asked = create_task(by=admin, task_type=make_task_type(
        "nest", requires_creation_approval=True))
    make_task_type("document_processing", assignee_kind="unit")
    document = document_add(name="a.txt", content=b"text", content_type="text/plain",
                            reference="kb-1", chunk_size=100, chunk_overlap=0,
                            by=Actor.for_user(admin))
    schedule = schedule_create(fields={
        "name": "nightly", "task_type": make_task_type("report"), "title": "Report",
        "cron": "0 2 * * *"}, by=Actor.system("tests"))
    return admin, {
        "documents": document.pk, "schedules": schedule.pk,
        "tasks": asked.pk, "task-types": "nest", "skills": Skill.objects.create(name="py").pk,
        "teams": Team.objects.create(name="core").pk, "staff": staff.pk,
        "leaves": make_leave(staff, days_from_now=3).pk,
        "approvals": asked.approval_requests.get().pk,
        "execution-units": unit_register(unit_id="worker-1", unit_type="nest", may_rotate=True,
                                         by=Actor.system("tests")).unit.unit_id,
    }


def real_url(template: str, ids: dict) -> str:
    parts = template.split("/")
    return "/".join(str(ids[parts[i - 1]]) if part == "{}" else part
                    for i, part in enumerate(parts))


READ_ONLY_FOR_ITS_CALLER = {"/api/v1/knowledge/documents/{}/chunks"}


def write_routes():
    for template, methods in api_routes():
        writes = [m for m in methods if m in ("post", "put", "patch")]
        if writes:
            yield template, writes
    for url in ("/api/v1/tasks", "/api/v1/tasks/batch", "/api/v1/task-types", "/api/v1/skills",
                "/api/v1/teams", "/api/v1/staff"):
        yield url, ["post"]


@pytest.mark.parametrize("raw", [
    "[" * 100_000 + "]" * 100_000,  # past Python's own recursion limit
    '{"a": ' * 40 + "1" + "}" * 40,  # within it, past ours
])
def test_deeply_nested_json_is_a_400_on_every_write_endpoint_including_login(
        every_kind_of_object, raw):
    admin, ids = every_kind_of_object
    login = assert_error_shape(send(None, "post", "/api/v1/auth/token", raw), 400)
    assert login["code"] in ("parse_error", "invalid")
    checked = []
    for template, methods in write_routes():
        for method in methods:
            url = real_url(template, ids)
            # An endpoint taking bodies of tens of megabytes reads them only for its one
            # caller (the unit processing the document): anyone else is refused unread.
            expected = 403 if template in READ_ONLY_FOR_ITS_CALLER else 400
            assert_error_shape(send(admin, method, url, raw), expected)
            checked.append((method, url))
    assert len(checked) >= 25, checked


@pytest.fixture
def ann():
    return make_staff("ann")


def leave_body(substitute: str) -> str:
    start = timezone.now() + timedelta(days=1)
    end = start + timedelta(days=2)
    return (f'{{"start": "{start.isoformat()}", "end": "{end.isoformat()}", '
            f'"substitute": {substitute}}}')


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("substitute", ["1e999", "-1e999", "[" * 30 + "1" + "]" * 30,
                                        "[" * 200 + "1" + "]" * 200, "1e30"])
def test_an_id_field_given_a_huge_number_or_a_nested_list_is_a_400(ann, settings, debug,
                                                                   substitute):
    settings.DEBUG = debug
    response = send(ann.user, "post", f"/api/v1/staff/{ann.pk}/leaves", leave_body(substitute))

    body = assert_error_shape(response, 400)
    assert "substitute" in body
    assert not Leave.objects.exists()


def test_infinity_and_nan_literals_are_a_400(sam, doc):
    for literal in ("Infinity", "NaN", "-Infinity"):
        body = assert_error_shape(send(sam, "post", "/api/v1/tasks", task_body(
            payload='{"x": ' + literal + "}")), 400)
        assert body["code"] == "parse_error"


def test_a_body_past_the_size_limit_is_a_413(sam, doc, settings):
    settings.API_MAX_BODY_BYTES = 2048
    raw = task_body(payload=json.dumps({"blob": "x" * 4096}))
    body = assert_error_shape(send(sam, "post", "/api/v1/tasks", raw), 413)
    assert body["code"] == "request_too_large"
    assert send(sam, "post", "/api/v1/tasks", task_body()).status_code == 201


def test_a_body_past_djangos_own_cap_is_a_413_too_not_a_500(sam, doc, settings):
    # Django's DATA_UPLOAD_MAX_MEMORY_SIZE is met before the parser's limit when DRF reads a
    # JSON body whole; the settings keep it above every endpoint's limit, but it must still
    # answer like the parser if it is met.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    raw = task_body(payload=json.dumps({"blob": "x" * 4096}))
    body = assert_error_shape(send(sam, "post", "/api/v1/tasks", raw), 413)
    assert body["code"] == "request_too_large"
    assert not Task.objects.exists()


def test_the_largest_body_an_endpoint_takes_gets_past_djangos_cap(settings):
    largest = max(settings.API_MAX_BODY_BYTES, settings.KNOWLEDGE_MAX_CHUNKS_BODY_BYTES)
    assert largest <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def test_valid_unicode_goes_through_untouched(sam, doc):
    raw = task_body(title='"caf\\u00e9 \\ud83d\\ude00"', payload='{"k\\u00ef": "\\u2028"}')
    response = send(sam, "post", "/api/v1/tasks", raw)
    assert response.status_code == 201, response.content
    assert response.json()["title"] == "café 😀"
    assert Task.objects.get().payload == {"kï": "\u2028"}


def test_staff_create_takes_the_documented_availability():
    admin = make_user("root", admin=True)
    response = api_client(admin).post("/api/v1/staff", {
        "username": "newbie", "availability": "inactive", "capacity": 2}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["availability"] == "inactive"
    assert Staff.objects.get(user__username="newbie").availability == "inactive"
