"""Every error under /api/ is JSON in one shape (apps.core.api), whatever raised it."""

from __future__ import annotations

import json
import logging
import re

import pytest
from django.urls import URLResolver, get_resolver

from tests.builders import api_client, make_user

pytestmark = pytest.mark.django_db

# Ids no resource has: not a UUID, 36 characters that are not a UUID, past any integer column.
BAD_IDS = ["0", "-" * 36, "not-an-id", "9" * 30]
METHODS = ("get", "post", "put", "patch", "delete")


def api_routes(*, with_parameters: bool = True) -> list[tuple[str, list[str]]]:
    """Every /api/ route with (or without) a path parameter, as (template, methods)."""
    return [(t, _methods(cb)) for t, cb in api_views() if ("{}" in t) == with_parameters]


def api_views() -> list[tuple[str, object]]:
    """Every /api/ route as (template with {} for each path parameter, view callback)."""
    found = []

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
                continue
            template = prefix + str(p.pattern)
            if template.startswith("api/v1/"):
                template = re.sub(r"\(\?P<\w+>[^)]*\)", "{}", template.replace("^", ""))
                found.append(("/" + template.replace("/?$", ""), p.callback))

    walk(get_resolver().url_patterns)
    return found


def _methods(callback) -> list[str]:
    actions = getattr(callback, "actions", None)
    if actions:
        return [m for m in actions if m in METHODS]
    cls = callback.cls
    return [m for m in METHODS if hasattr(cls, m)]


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response.get("Content-Type", "").startswith("application/json"), response
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str) and body["code"]
    return body


@pytest.fixture
def admin():
    return make_user("root", admin=True)


def test_the_route_list_covers_every_task_action():
    templates = {t for t, _ in api_routes()}
    for action in ("cancel", "decline", "status", "candidates", "reassign", "logs", "history"):
        assert f"/api/v1/tasks/{{}}/{action}" in templates
    assert "/api/v1/tasks/{}" in templates


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_a_malformed_or_unknown_id_is_a_json_404_on_every_route_and_method(admin, bad_id):
    client = api_client(admin)
    for template, methods in api_routes():
        url = template.replace("{}", bad_id)
        for method in methods:
            response = getattr(client, method)(url, {}, format="json")
            body = assert_error_shape(response, 404)
            assert body["code"] == "not_found", (method, url)


@pytest.mark.parametrize("url,method", [
    ("/api/v1/tasks/0/cancel", "post"), ("/api/v1/tasks/0/decline", "post"),
    ("/api/v1/tasks/0/status", "put"), ("/api/v1/tasks/0", "patch"),
    (f"/api/v1/tasks/{'a' * 36}/candidates", "get"), (f"/api/v1/tasks/{'-' * 36}/reassign", "post"),
])
def test_the_reported_malformed_ids_are_404_for_an_ordinary_user(mallory, url, method):
    response = getattr(api_client(mallory), method)(url, {"status": "cancelled"},
                                                              format="json")
    assert assert_error_shape(response, 404)["detail"] == "Not found."


def test_an_unmatched_api_route_is_a_json_404_also_with_debug(admin, settings):
    settings.DEBUG = True
    for url in ("/api/v1/nothing-here", "/api/v2/tasks", "/api/v1/staff/abc"):
        assert_error_shape(api_client(admin).get(url), 404)


def test_pages_outside_the_api_keep_djangos_404(client):
    assert not client.get("/no-such-page")["Content-Type"].startswith("application/json")


def test_a_method_a_route_does_not_serve_is_a_json_405_naming_what_it_serves(admin):
    response = api_client(admin).delete("/api/v1/tasks")
    body = assert_error_shape(response, 405)
    assert body["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_field_errors_come_with_detail_and_code(admin):
    response = api_client(admin).post("/api/v1/tasks", {"title": ""}, format="json")
    body = assert_error_shape(response, 400)
    assert body["code"] == "invalid"
    assert body["title"] and body["task_type"]
    assert body["detail"] == "Invalid input: title, task_type."


def test_unauthenticated_is_json_in_the_same_shape():
    body = assert_error_shape(api_client().get("/api/v1/tasks"), 401)
    assert body["code"] == "not_authenticated"


# --- unexpected exceptions ------------------------------------------------------------------
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("url", ["/api/v1/boom", "/api/v1/plain-boom"])
def test_an_unexpected_exception_is_a_json_500_logged_once_with_its_traceback(
        admin, settings, caplog, debug, url):
    settings.ROOT_URLCONF = "tests.core.failing_urls"
    settings.DEBUG = debug
    client = api_client(admin)
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get(url)

    body = assert_error_shape(response, 500)
    assert body["code"] == "server_error"
    assert "unexpected" not in response.content.decode()  # nothing internal leaks out
    errors = [r for r in caplog.records if r.name == "django.request"]
    assert len(errors) == 1
    assert errors[0].exc_info and isinstance(errors[0].exc_info[1], RuntimeError)


def handlers_reached(logger_name: str, record: logging.LogRecord) -> list[logging.Handler]:
    """The handlers a record from this logger goes to (pytest's own capture left out)."""
    reached, logger = [], logging.getLogger(logger_name)
    while logger is not None:
        reached += [h for h in logger.handlers if record.levelno >= h.level and h.filter(record)
                    and not type(h).__module__.startswith("_pytest")]
        logger = logger.parent if logger.propagate else None
    return reached


@pytest.mark.parametrize("debug", [False, True])
def test_a_server_error_is_printed_by_one_handler_also_with_debug(settings, debug):
    settings.DEBUG = debug
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "boom", (), None)
    assert len(handlers_reached("django.request", record)) == 1


def test_the_renderer_escapes_a_lone_surrogate_instead_of_failing():
    """Defence behind the parser: whatever reaches a response, the body still renders."""
    from apps.core.renderers import JSONRenderer

    body = JSONRenderer().render({"detail": "bad \ud800 value", "ok": "café"})
    assert json.loads(body) == {"detail": "bad \ud800 value", "ok": "café"}
    assert JSONRenderer().render({"ok": "café"}) == '{"ok":"café"}'.encode()
