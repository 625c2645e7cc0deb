"""The client cannot drift from the API: its models and calls are checked against the
server's OpenAPI schema, generated in-process from the same code that serves it.

Renaming a field on either side (a serializer's or a dataclass's) fails
`test_every_model_field_is_in_its_component_with_a_matching_type`; renaming or removing an
endpoint, or a body field or query parameter the client sends, fails
`test_every_call_the_client_makes_is_in_the_schema`.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from datetime import datetime
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from taskmanage_client import Assignee, Heartbeat, LogLine, Outcome, Registration, Task, Unit
from taskmanage_client import _calls as calls
from taskmanage_client._transport import Call

# Task: the detail's component (a claim's and get_task's answer), the list's and more.
MODELS = {Task: "TaskDetail", Assignee: "Assignee", Unit: "UnitDetail",
          Registration: "Registration", Heartbeat: "HeartbeatResult", LogLine: "TaskLog",
          Outcome: "Outcome"}
ID = "8d5a4f1e-0000-4000-8000-000000000001"
# One of each call the client makes. A call added to _calls and not here fails below.
SAMPLES: dict[str, Call] = {
    "login": calls.login("u", "p"),
    "create_task": calls.create_task(
        title="t", task_type="docs", priority="high", payload={}, reference="r", labels=["l"],
        run_at="2030-01-01T00:00Z", due_at="2030-01-02T00:00Z", depends_on=[ID],
        shard_count=2, draft=True, idempotency_key="k"),
    "create_tasks": calls.create_tasks([{"title": "t", "task_type": "docs"}]),
    "get_task": calls.get_task(ID),
    "list_tasks": calls.list_tasks(page=1, page_size=10, status=["queued"], task_type="d",
                                   priority="low", reference="r", parent=ID),
    "logs": calls.logs(ID, page=1, attempt=1),
    "cancel": calls.cancel(ID, reason="r"),
    "retry": calls.retry(ID),
    "register_unit": calls.register_unit(
        unit_id="w-1", unit_type="docs", name="n", capacity=2, endpoint="e", labels=["l"],
        heartbeat_timeout=30, registration_secret="s"),
    "get_unit": calls.get_unit("w-1"),
    "heartbeat": calls.heartbeat("w-1", current_load=1, metadata={"cpu": 1}),
    "claim": calls.claim("w-1", max=2, wait=1.0),
    "progress": calls.progress(ID, 5, estimated_completion="2030-01-01T00:00Z"),
    "log": calls.log(ID, ["m", ("error", "e")]),
    "complete": calls.complete(ID, {"r": 1}),
    "fail": calls.fail(ID, "e", retryable=False),
    "report_results": calls.report_results("w-1", [
        {"task_id": ID, "outcome": "failed", "result": None, "error": "e", "retryable": True}]),
    "give_back": calls.give_back("w-1", ["00000000-0000-0000-0000-000000000001"], reason="r"),
    "drain": calls.drain("w-1", reason="r"),
    "undrain": calls.undrain("w-1", reason="r"),
    "deregister": calls.deregister("w-1"),
}


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def resolve(schema: dict, node: dict) -> dict:
    """A property's schema with `$ref` and a single `allOf` (how enums are referenced)
    followed to the component."""
    while True:
        if "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        elif len(node.get("allOf", ())) == 1:
            node = node["allOf"][0]
        else:
            return node


def json_types(annotation: Any) -> tuple[set[str | None], bool]:
    """The JSON schema types a Python annotation accepts, and whether it accepts null."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        found: set[str | None] = set()
        for arg in args:
            if arg is not type(None):
                found |= json_types(arg)[0]
        return found, type(None) in args
    origin = typing.get_origin(annotation) or annotation
    if annotation is Any:
        return {"*"}, True
    mapping = {str: {"string"}, int: {"integer"}, bool: {"boolean"}, float: {"number"},
               tuple: {"array"}, list: {"array"}, dict: {"object", None},
               datetime: {"date-time"}}
    if dataclasses.is_dataclass(origin):
        return {"object"}, False
    return mapping[origin], False


def schema_type(prop: dict) -> str | None:
    if prop.get("format") == "date-time":
        return "date-time"
    if "enum" in prop:
        return "string"
    if "oneOf" in prop:
        return "|".join(sorted(p.get("type", "") for p in prop["oneOf"]))
    if "properties" in prop:
        return "object"
    return prop.get("type")


@pytest.mark.parametrize("model", list(MODELS), ids=lambda m: m.__name__)
def test_every_model_field_is_in_its_component_with_a_matching_type(schema, model):
    component = schema["components"]["schemas"][MODELS[model]]
    hints = typing.get_type_hints(model)
    for field in dataclasses.fields(model):
        if not field.metadata.get("wire", True):
            continue
        assert field.name in component["properties"], (
            f"{model.__name__}.{field.name} is not in the API's {MODELS[model]}")
        raw = component["properties"][field.name]
        prop = resolve(schema, raw)
        accepted, nullable = json_types(hints[field.name])
        found = schema_type(prop)
        if found is None:
            pass  # the API documents any JSON here (a JSONField): every type agrees
        elif found == "integer|string":  # Assignee.id: a person's number or a unit's id
            assert accepted >= {"integer", "string"}, field.name
        else:
            assert "*" in accepted or found in accepted, (
                f"{model.__name__}.{field.name}: the API says {found}, the client {accepted}")
        if raw.get("nullable") or prop.get("nullable"):
            assert nullable, f"{model.__name__}.{field.name} may be null in the API"


def test_every_call_the_client_makes_is_in_the_schema(schema):
    made = {name for name, fn in inspect.getmembers(calls, inspect.isfunction)
            if fn.__module__ == calls.__name__ and not name.startswith("_")
            and inspect.signature(fn).return_annotation == "Call"}
    assert made == set(SAMPLES), "a call of the client is not checked here"

    for name, call in SAMPLES.items():
        operation = _operation(schema, call)
        assert operation is not None, f"{name}: {call.method} {call.path} is not in the API"
        known = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "query"}
        assert set(call.params or {}) <= known, f"{name}: unknown query parameters"
        if call.json is not None:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            _check_body(schema, call.json, body, name)


def test_the_check_fails_on_a_renamed_field(schema):
    @dataclasses.dataclass(frozen=True)
    class Renamed:
        headline: str  # the API calls it `title`

    MODELS[Renamed] = "Task"
    try:
        with pytest.raises(AssertionError, match="Renamed.headline"):
            test_every_model_field_is_in_its_component_with_a_matching_type(schema, Renamed)
    finally:
        del MODELS[Renamed]


def _operation(schema: dict, call: Call) -> dict | None:
    method = call.method.lower()
    literal = schema["paths"].get(call.path, {})
    if method in literal:
        return literal[method]
    for template, item in schema["paths"].items():
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, call.path) and method in item:
            return item[method]
    return None


def _check_body(schema: dict, value: Any, node: dict, where: str) -> None:
    node = resolve(schema, node)
    if isinstance(value, dict) and "properties" in node:
        unknown = set(value) - set(node["properties"])
        assert not unknown, f"{where}: the API does not take {sorted(unknown)}"
        for key, item in value.items():
            _check_body(schema, item, node["properties"][key], f"{where}.{key}")
    elif isinstance(value, list) and "items" in node:
        for item in value:
            _check_body(schema, item, node["items"], f"{where}[]")
