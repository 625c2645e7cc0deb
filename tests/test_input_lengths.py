"""Every string a client writes is bounded, within its column; an over-long one is a 400
naming the field, with nothing written."""

from __future__ import annotations

import inspect

import pytest
from django.contrib.auth import get_user_model
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from apps.accounts.api import serializers as account_serializers
from apps.approvals.api import serializers as approval_serializers
from apps.assignment.api import serializers as assignment_serializers
from apps.staff.api import fields as staff_fields
from apps.staff.api import serializers as staff_serializers
from apps.staff.models import Skill, Staff, Team
from apps.tasks.api import serializers as task_serializers
from apps.tasks.models import Task, TaskLog, TaskType
from tests.builders import api_client, make_user

User = get_user_model()
# Formats whose own validation bounds the length.
SELF_BOUNDED_FORMATS = {"date-time", "date", "uuid", "binary"}
# Plain serializers whose fields land in these models' columns of the same name.
WRITES_TO = {
    task_serializers.TaskCreateSerializer: Task,
    task_serializers.TaskUpdateSerializer: Task,
    staff_serializers.StaffCreateSerializer: User,
    account_serializers.TokenObtainSerializer: User,
}


def request_body_schemas():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                yield f"{method.upper()} {path}", content["schema"], components


def unbounded_strings(schema, components, where="", seen=frozenset()):
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name not in seen:
            yield from unbounded_strings(components[name], components, where, seen | {name})
        return
    is_free_text = (
        schema.get("type") == "string"
        and "enum" not in schema
        and schema.get("format") not in SELF_BOUNDED_FORMATS
        and not schema.get("readOnly")
    )
    if is_free_text and "maxLength" not in schema:
        yield where
    for name, child in schema.get("properties", {}).items():
        yield from unbounded_strings(child, components, f"{where}.{name}", seen)
    if "items" in schema:
        yield from unbounded_strings(schema["items"], components, f"{where}[]", seen)
    for key in ("allOf", "anyOf", "oneOf"):
        for child in schema.get(key, []):
            yield from unbounded_strings(child, components, where, seen)


def test_every_string_in_every_request_body_has_a_max_length():
    unbounded = [
        f"{operation} {field}"
        for operation, schema, components in request_body_schemas()
        for field in unbounded_strings(schema, components)
    ]

    assert unbounded == []


def api_serializer_classes():
    for module in (account_serializers, approval_serializers, assignment_serializers,
                   staff_fields, staff_serializers, task_serializers):  # fmt: skip
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, serializers.Serializer) and cls.__module__ == module.__name__:
                yield cls


def written_columns():
    """(serializer, field name, serializer max_length, model column max_length)."""
    for cls in api_serializer_classes():
        model = getattr(getattr(cls, "Meta", None), "model", None) or WRITES_TO.get(cls)
        if model is None:
            continue
        for name, field in cls().fields.items():
            if field.read_only or not isinstance(field, serializers.CharField):
                continue
            if name == "password":  # stored as a hash, not as typed
                continue
            column = next((f for f in model._meta.fields if f.name == field.source), None)
            if column is not None and getattr(column, "max_length", None):
                yield cls.__name__, name, field.max_length, column.max_length


def test_string_limits_fit_their_columns():
    checked = list(written_columns())
    too_long = [row for row in checked if row[2] is None or row[2] > row[3]]

    assert {(s, f) for s, f, *_ in checked} >= {
        ("TaskCreateSerializer", "title"), ("TaskCreateSerializer", "idempotency_key"),
        ("StaffCreateSerializer", "email"), ("LeaveSerializer", "reason"),
        ("TeamSerializer", "name"), ("TaskTypeSerializer", "key"),
    }  # fmt: skip
    assert too_long == []


@pytest.fixture
def operator(db):
    return make_user("operator", admin=True)


NEW_PERSON = {"username": "carol", "password": "a-long-Passphrase-77", "capacity": 2}
LONG_EMAIL = "a" * 64 + "@" + ("b" * 60 + ".") * 4 + "com"  # 312 chars, a valid address


@pytest.mark.parametrize(
    ("url", "body", "field", "model"),
    [
        ("/api/v1/skills", {"name": "python", "description": "x" * 2001}, "description", Skill),
        ("/api/v1/skills", {"name": "p" * 101}, "name", Skill),
        ("/api/v1/teams", {"name": "t" * 101}, "name", Team),
        ("/api/v1/task-types", {"key": "k", "name": "K", "description": "x" * 5001},
         "description", TaskType),
        ("/api/v1/task-types", {"key": "k", "name": "n" * 201}, "name", TaskType),
        ("/api/v1/staff", {**NEW_PERSON, "password": "Xy-" + "z" * 4094}, "password", Staff),
        ("/api/v1/staff", {**NEW_PERSON, "email": LONG_EMAIL}, "email", Staff),
        ("/api/v1/staff", {**NEW_PERSON, "username": "u" * 151}, "username", Staff),
    ],
)
def test_over_long_strings_are_a_400_naming_the_field(operator, url, body, field, model):
    response = api_client(operator).post(url, body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not model.objects.exists()


def test_over_long_task_strings_are_a_400_naming_the_field(operator):
    client = api_client(operator)
    TaskType.objects.create(key="t", name="T")
    bodies = {
        "title": {"title": "x" * 301},
        "reference": {"reference": "r" * 201},
        "idempotency_key": {"idempotency_key": "i" * 201},
        "labels": {"labels": ["l" * 101]},
    }

    for field, extra in bodies.items():
        response = client.post("/api/v1/tasks", {"title": "t", "task_type": "t", **extra},
                               format="json")  # fmt: skip
        assert response.status_code == 400 and field in response.json(), (field, response.data)
    assert not Task.objects.exists() and not TaskLog.objects.exists()


def test_a_new_persons_password_is_kept_as_typed(operator):
    password = "  spaces around a long passphrase  "

    response = api_client(operator).post(
        "/api/v1/staff", {**NEW_PERSON, "password": password}, format="json"
    )

    assert response.status_code == 201, response.content
    assert User.objects.get(username="carol").check_password(password)
