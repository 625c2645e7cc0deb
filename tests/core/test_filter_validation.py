"""Query filters validate their values in the filter set's form: a bad one is a 400 naming
the filter, never a 500 from the database nor a silently rounded id."""

from __future__ import annotations

import pytest
from django_filters.rest_framework import DjangoFilterBackend

from tests.builders import (
    api_client,
    make_staff,
    make_task_type,
    make_team,
    make_user,
    task_in_state,
)
from tests.core.test_api_errors import api_views, assert_error_shape

pytestmark = pytest.mark.django_db

HOSTILE = ["1e30", "1.5", "9" * 30, "-1", "abc", "1e999", "\x00", "0x10", " 1", "[]"]


def filtered_lists() -> list[tuple[str, list[str]]]:
    """Every /api/ list with filters, as (url, filter names)."""
    found = []
    for template, callback in api_views():
        cls = getattr(callback, "cls", None)
        if "{}" in template or cls is None or "get" not in (getattr(callback, "actions", None)
                                                            or {"get": 1}):
            continue
        view = cls()
        view.swagger_fake_view = True  # the views' querysets then need no request
        queryset = view.get_queryset() if hasattr(view, "get_queryset") else None
        filterset = DjangoFilterBackend().get_filterset_class(view, queryset)
        if filterset is not None:
            found.append((template, list(filterset.base_filters)))
    return found


def test_every_filtered_list_is_covered():
    urls = {url for url, _ in filtered_lists()}
    assert {"/api/v1/tasks", "/api/v1/me/tasks", "/api/v1/staff", "/api/v1/teams",
            "/api/v1/assignments", "/api/v1/approvals", "/api/v1/task-types"} <= urls


def test_no_value_of_any_filter_is_a_server_error():
    admin = make_user("root", admin=True)
    client = api_client(admin)
    for url, names in filtered_lists():
        for name in names:
            for value in HOSTILE:
                response = client.get(url, {name: value})
                assert response.status_code in (200, 400), (url, name, value, response.content)
                if response.status_code == 400:
                    assert name in assert_error_shape(response, 400), (url, name, value)


@pytest.mark.parametrize("url,name", [
    ("/api/v1/tasks", "assignee"), ("/api/v1/me/tasks", "assignee"), ("/api/v1/staff", "team"),
    ("/api/v1/staff", "min_level"), ("/api/v1/teams", "manager"), ("/api/v1/teams", "parent"),
    ("/api/v1/assignments", "assignee_user"),
])
@pytest.mark.parametrize("value", ["1e30", "1.5", "9" * 30, "abc"])
def test_a_numeric_id_filter_refuses_what_is_no_id_by_name(url, name, value):
    response = api_client(make_staff("ann").user).get(url, {name: value, "skill": "x"})
    assert name in assert_error_shape(response, 400)


def test_an_id_filter_still_filters_by_a_whole_number():
    ann = make_staff("ann", team=make_team("core"))
    root = make_user("root", admin=True)
    held = task_in_state("running", creator=root, assignee=ann.user, task_type=make_task_type())
    client = api_client(root)
    ids = [row["id"] for row in client.get("/api/v1/tasks", {"assignee": ann.user.pk}
                                           ).json()["results"]]
    assert ids == [str(held.pk)]
    staff = client.get("/api/v1/staff", {"team": ann.team_id}).json()["results"]
    assert [row["username"] for row in staff] == ["ann"]


def test_a_log_attempt_must_be_a_whole_number():
    root = make_user("root", admin=True)
    task = task_in_state("running", creator=root)
    url = f"/api/v1/tasks/{task.pk}/logs"
    for value in ("1e30", "1.5", "9" * 30, "-1"):
        assert "attempt" in assert_error_shape(api_client(root).get(url, {"attempt": value}), 400)
    assert api_client(root).get(url, {"attempt": "1"}).status_code == 200
