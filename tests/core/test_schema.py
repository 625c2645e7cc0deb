"""The OpenAPI schema describes what the server does, and the server holds to the schema."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.tasks.states import TaskStatus
from tests.builders import api_client, create_task, make_task_type, make_user

pytestmark = pytest.mark.django_db
UNSAFE = {"post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_paths_are_spelt_as_the_contract_without_a_trailing_slash(schema):
    assert "/api/v1/tasks" in schema["paths"]
    assert [p for p in schema["paths"] if p.endswith("/")] == []


def test_every_operation_documents_auth_permission_and_throttle_errors(schema):
    missing = [(m, p) for p, m, op in operations(schema)
               if not {"401", "403", "429"} <= set(op["responses"])]
    assert missing == []


def test_operations_on_one_object_document_404_and_changes_document_409(schema):
    for path, method, op in operations(schema):
        if "{" in path:
            assert "404" in op["responses"], (method, path)
        if method in UNSAFE and path != "/api/v1/auth/token":
            assert "409" in op["responses"], (method, path)


# Bodies that carry a file: multipart (the knowledge base's upload); every other one is JSON.
MULTIPART = {("post", "/api/v1/knowledge/documents")}


def test_request_bodies_are_json_only_and_closed_objects(schema):
    for path, method, op in operations(schema):
        content = op.get("requestBody", {}).get("content", {})
        allowed = {"multipart/form-data"} if (method, path) in MULTIPART else {"application/json"}
        assert set(content) <= allowed, (method, path)
    requests = {n: c for n, c in schema["components"]["schemas"].items() if n.endswith("Request")}
    assert requests
    assert [n for n, c in requests.items() if c.get("additionalProperties") is not False] == []


def test_transitions_document_their_own_body_not_a_whole_task(schema):
    body = schema["paths"]["/api/v1/tasks/{id}/cancel"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/TransitionRequest")


def test_history_and_logs_document_only_their_own_parameters(schema):
    history = schema["paths"]["/api/v1/tasks/{id}/history"]["get"]["parameters"]
    logs = schema["paths"]["/api/v1/tasks/{id}/logs"]["get"]["parameters"]
    appended = schema["paths"]["/api/v1/tasks/{id}/logs"]["post"]["parameters"]
    assert {p["name"] for p in history} == {"id", "page", "page_size"}
    assert {p["name"] for p in logs} == {"id", "attempt", "page", "page_size"}
    assert {p["name"] for p in appended} == {"id"}


def test_nested_lists_that_refuse_empty_say_so(schema):
    lines = schema["components"]["schemas"]["TaskLogBatchRequest"]["properties"]["lines"]
    assert lines["minItems"] == 1 and lines["maxItems"] == 1000


def test_fields_that_can_be_null_are_nullable(schema):
    components = schema["components"]["schemas"]
    assert components["Task"]["properties"]["created_by"]["nullable"] is True
    assert components["Staff"]["properties"]["team_name"]["nullable"] is True
    assert components["ApprovalRequest"]["properties"]["decider"]["nullable"] is True


class TestPagination:
    @pytest.mark.parametrize("value", ["false", "0", "-1", "1.5", "501", "+2", "٣"])
    def test_a_page_size_it_cannot_honour_is_a_400_naming_it(self, value):
        resp = api_client(make_user("ann")).get(f"/api/v1/tasks?page_size={value}")
        assert resp.status_code == 400
        assert "page_size" in str(resp.json())

    @pytest.mark.parametrize("value", ["0", "x", "last"])
    def test_a_page_that_is_not_a_positive_number_is_a_400(self, value):
        resp = api_client(make_user("ann")).get(f"/api/v1/tasks?page={value}")
        assert resp.status_code == 400
        assert "page" in str(resp.json())

    def test_a_page_past_the_end_is_a_404(self):
        assert api_client(make_user("ann")).get("/api/v1/tasks?page=9").status_code == 404

    def test_page_bounds_are_in_the_schema(self, schema):
        params = {p["name"]: p["schema"] for p in
                  schema["paths"]["/api/v1/tasks"]["get"]["parameters"]}
        assert params["page"]["minimum"] == 1
        assert (params["page_size"]["minimum"], params["page_size"]["maximum"]) == (1, 500)


def test_history_is_not_filtered_by_the_task_list_filters():
    ann = make_user("ann")
    task = create_task(by=ann, task_type=make_task_type())
    resp = api_client(ann).get(f"/api/v1/tasks/{task.pk}/history?status={TaskStatus.RUNNING}")
    assert resp.status_code == 200
    assert resp.json()["count"] == 1


def test_a_form_encoded_body_is_a_415():
    resp = api_client(make_user("ann")).post(
        "/api/v1/tasks", "title=x&task_type=y", content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 415


def test_batch_answers_the_shape_its_schema_documents(schema):
    ann = make_user("ann")
    kind = make_task_type()
    resp = api_client(ann).post("/api/v1/tasks/batch", {"tasks": [
        {"title": "a", "task_type": kind.key}]}, format="json")
    assert resp.status_code == 201
    documented = schema["paths"]["/api/v1/tasks/batch"]["post"]["responses"]["201"]
    ref = documented["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    properties = schema["components"]["schemas"][ref]["properties"]
    assert set(resp.json()) == set(properties)
    assert set(resp.json()["tasks"][0]) == {"id", "status", "created"}


def test_a_task_types_assignee_kind_offers_only_what_it_accepts(schema):
    from apps.tasks.states import AssigneeKind

    components = schema["components"]["schemas"]
    ref = components["TaskTypeRequest"]["properties"]["assignee_kind"]["$ref"]
    assert components[ref.rsplit("/", 1)[1]]["enum"] == list(AssigneeKind.values)
    holder = components["Assignee"]["properties"]["kind"]["$ref"].rsplit("/", 1)[1]
    assert components[holder]["enum"] == ["staff", "user", "unit"]


@pytest.mark.parametrize("moment", ["1189-03-21T03:50:59+16:54", "2026-01-01T00:00:00-23:59"])
def test_a_date_filter_with_an_offset_postgresql_refuses_is_compared_in_utc(moment):
    ann = make_user("ann")
    resp = api_client(ann).get("/api/v1/me/tasks", {"created_after": moment})
    assert resp.status_code == 200


def test_a_date_filter_out_of_the_range_of_dates_is_a_400_naming_it():
    resp = api_client(make_user("ann")).get("/api/v1/tasks",
                                            {"created_before": "0001-01-01T00:00:00+05:00"})
    assert resp.status_code == 400
    assert "created_before" in resp.json()


@pytest.mark.parametrize("value", [7, True, 1.5, ["x"], {"a": 1}])
def test_text_fields_refuse_what_is_not_a_string(value):
    admin = make_user("root", admin=True)
    resp = api_client(admin).post("/api/v1/skills", {"name": "python", "description": value},
                                  format="json")
    assert resp.status_code == 400
    assert resp.json()["description"] == ["Must be a string."]


def test_appended_log_lines_are_documented_as_the_plain_list_they_are(schema):
    created = schema["paths"]["/api/v1/tasks/{id}/logs"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["type"] == "array"
    listed = schema["paths"]["/api/v1/tasks/{id}/logs"]["get"]["responses"]["200"]
    assert listed["content"]["application/json"]["schema"]["$ref"].endswith("/PaginatedTaskLogList")


class TestBooleanFilters:
    @pytest.mark.parametrize("value", ["-1", "null", "maybe"])
    def test_a_word_that_is_not_true_or_false_is_a_400_naming_the_filter(self, value):
        resp = api_client(make_user("ann")).get(f"/api/v1/task-types?is_active={value}")
        assert resp.status_code == 400
        assert "is_active" in resp.json()

    def test_true_and_false_filter(self):
        make_task_type("on")
        make_task_type("off", is_active=False)
        client = api_client(make_user("ann"))
        for value, keys in [("false", ["off"]), ("1", ["on"]), ("", ["off", "on"])]:
            body = client.get(f"/api/v1/task-types?is_active={value}").json()
            assert [t["key"] for t in body["results"]] == keys, value

    def test_the_schema_still_documents_it_as_a_boolean(self, schema):
        params = {p["name"]: p["schema"] for p in
                  schema["paths"]["/api/v1/task-types"]["get"]["parameters"]}
        assert params["is_active"]["type"] == "boolean"


def test_every_enum_parameter_has_values_of_its_documented_type(schema):
    # ?priority=normal: the type came from the model's number column, the values were names.
    python_type = {"integer": int, "string": str}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                shape = parameter.get("schema", {})
                shape = shape.get("items", shape)
                if "enum" in shape and shape.get("type") in python_type:
                    assert all(isinstance(v, python_type[shape["type"]]) for v in shape["enum"]), (
                        path, method, parameter["name"], shape)


def _query_parameter(schema, path: str, name: str) -> dict:
    parameters = schema["paths"][path]["get"]["parameters"]
    return next(p["schema"] for p in parameters if p["name"] == name and p["in"] == "query")


@pytest.mark.parametrize(("path", "name", "minimum", "maximum"), [
    ("/api/v1/tasks", "assignee", 1, 2**63 - 1),  # an IdFilter
    ("/api/v1/staff", "min_level", 1, 5),  # a method filter with its own bounds
])
def test_whole_number_filters_document_the_bounds_they_check(schema, client, olga, path, name,
                                                             minimum, maximum):
    assert _query_parameter(schema, path, name) == {
        "type": "integer", "minimum": minimum, "maximum": maximum}
    client.force_login(olga)
    assert client.get(path, {name: minimum - 1}).status_code == 400
    assert client.get(path, {name: minimum}).status_code == 200
