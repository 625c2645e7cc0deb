"""A task type's strategy must serve the type's assignee kind: a staff-only strategy (skills,
seniority, rating) on a type done by units, or a unit-only one (reported health, idle units)
on a type done by staff, is refused when the type is saved: a 400 naming `strategy` in the
API, a form error in the admin, and nothing written. A unit type's routing filters in
`strategy_params` are checked then too."""

from __future__ import annotations

import pytest

from apps.assignment import services
from apps.assignment.models import AssignmentPolicy
from apps.assignment.selectors import policy_of
from apps.core.actors import Actor
from apps.core.exceptions import InvalidInput
from apps.tasks.models import TaskType
from tests.admin_forms import form_data
from tests.builders import api_client, field_errors, make_task_type

pytestmark = pytest.mark.django_db
PREFIX = "assignment_policy"
UNIT_SERVING = ("busyover", "consistent_hash", "failover", "first", "health_first",
                "least_loaded", "least_recently_assigned", "pull", "random", "round_robin",
                "sharding_broadcast")


def post_type(user, **body):
    return api_client(user).post("/api/v1/task-types", {"name": "Doc", **body}, format="json")


# --- API ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["skill_match", "priority_match", "optimal_batch"])
def test_a_staff_only_strategy_on_a_unit_type_is_a_400_naming_strategy(olga, strategy):
    resp = post_type(olga, key="doc", assignee_kind="unit", strategy=strategy)
    assert resp.status_code == 400, resp.json()
    assert resp.json()["code"] == "invalid"
    [message] = field_errors(resp)["strategy"]
    assert strategy in message and "'unit'" in message
    assert message.endswith(", ".join(UNIT_SERVING) + ".")  # what a unit type may use
    assert not TaskType.objects.filter(key="doc").exists()


@pytest.mark.parametrize("strategy", ["first", "health_first", "busyover", "pull",
                                      "sharding_broadcast"])
def test_a_unit_only_strategy_on_a_staff_type_is_a_400_naming_strategy(olga, strategy):
    resp = post_type(olga, key="review", strategy=strategy)  # assignee_kind: staff by default
    assert resp.status_code == 400, resp.json()
    [message] = field_errors(resp)["strategy"]
    assert strategy in message and "skill_match" in message and "health_first" not in (
        message.split("may use:")[1])
    assert not TaskType.objects.filter(key="review").exists()


@pytest.mark.parametrize("strategy", UNIT_SERVING)
def test_a_unit_type_takes_any_strategy_that_serves_units(olga, strategy):
    resp = post_type(olga, key="doc", assignee_kind="unit", strategy=strategy)
    assert resp.status_code == 201, resp.json()
    assert policy_of(task_type=TaskType.objects.get(key="doc")).strategy == strategy


def test_a_unit_type_without_a_strategy_gets_pull_and_a_staff_type_least_loaded(olga):
    resp = post_type(olga, key="doc", assignee_kind="unit")
    assert resp.status_code == 201 and resp.json()["strategy"] == "pull"
    resp = post_type(olga, key="review", assignee_kind="staff")
    assert resp.status_code == 201 and resp.json()["strategy"] == "least_loaded"


def test_turning_a_staff_type_into_a_unit_type_is_checked_against_its_strategy(olga):
    kind = make_task_type("review", strategy="skill_match")
    client = api_client(olga)
    resp = client.patch("/api/v1/task-types/review", {"assignee_kind": "unit"}, format="json")
    assert resp.status_code == 400 and "skill_match" in field_errors(resp)["strategy"][0]
    kind.refresh_from_db()
    assert kind.assignee_kind == "staff"
    # Both at once is fine: the new strategy serves units.
    resp = client.patch("/api/v1/task-types/review",
                        {"assignee_kind": "unit", "strategy": "health_first"}, format="json")
    assert resp.status_code == 200, resp.json()
    assert resp.json()["assignee_kind"] == "unit" and resp.json()["strategy"] == "health_first"


def test_changing_a_unit_types_strategy_to_a_staff_only_one_changes_nothing(olga):
    kind = make_task_type("doc", assignee_kind="unit", strategy="failover",
                          strategy_params={"order": ["worker-2"]})
    resp = api_client(olga).patch("/api/v1/task-types/doc",
                                  {"strategy": "skill_match", "name": "Renamed"}, format="json")
    assert resp.status_code == 400 and list(field_errors(resp)) == ["strategy"]
    kind.refresh_from_db()
    assert kind.name == "Doc" and policy_of(task_type=kind).strategy == "failover"


@pytest.mark.parametrize(("params", "wrong"), [
    ({"min_cpu_free": 2}, "min_cpu_free"),
    ({"labels": "gpu"}, "labels"),
    ({"min_free_memory_mb": "lots"}, "min_free_memory_mb"),
])
def test_a_unit_types_filters_that_do_not_parse_are_a_400_naming_strategy_params(
        olga, params, wrong):
    resp = post_type(olga, key="doc", assignee_kind="unit", strategy_params=params)
    assert resp.status_code == 400, resp.json()
    [message] = field_errors(resp)["strategy_params"]
    assert message.startswith(wrong)
    assert not TaskType.objects.filter(key="doc").exists()


def test_a_unit_types_filters_are_kept(olga):
    params = {"labels": ["gpu"], "min_free_memory_mb": 2048, "min_cpu_free": 0.25}
    resp = post_type(olga, key="doc", assignee_kind="unit", strategy="health_first",
                     strategy_params=params)
    assert resp.status_code == 201, resp.json()
    assert resp.json()["strategy_params"] == params


def test_a_staff_types_params_are_not_read_as_unit_filters(olga):
    resp = post_type(olga, key="review", strategy="skill_match",
                     strategy_params={"weights": {"python": 2}, "labels": "anything"})
    assert resp.status_code == 201, resp.json()


def test_the_service_refuses_for_any_caller():
    kind = make_task_type("doc", assignee_kind="unit")
    with pytest.raises(InvalidInput) as exc:
        services.assignment_policy_set(task_type=kind, by=Actor.system("t"),
                                       strategy="priority_match")
    assert list(exc.value.fields) == ["strategy"]
    assert policy_of(task_type=kind).strategy == "pull"


# --- admin -------------------------------------------------------------------------------------
@pytest.fixture
def operator(olga, client):
    client.force_login(olga)
    return olga


def change(client, kind, **overrides):
    url = f"/admin/tasks/tasktype/{kind.pk}/change/"
    return client.post(url, form_data(client.get(url), **overrides))


def strategy_errors(resp) -> list[str]:
    [inline] = [i for i in resp.context["inline_admin_formsets"]
                if i.formset.model is AssignmentPolicy]
    return [str(e) for form in inline.formset.forms for e in form.errors.get("strategy", [])]


def test_admin_a_staff_only_strategy_on_a_unit_type_is_a_form_error(client, operator):
    kind = make_task_type("doc", assignee_kind="unit", strategy="round_robin")
    resp = change(client, kind, name="Renamed", **{f"{PREFIX}-0-strategy": "skill_match"})
    assert resp.status_code == 200  # the form again, with the error on the strategy
    [message] = strategy_errors(resp)
    assert "skill_match" in message and "health_first" in message
    kind.refresh_from_db()
    assert kind.name == "Doc" and policy_of(task_type=kind).strategy == "round_robin"


def test_admin_turning_a_type_into_a_unit_type_is_checked_against_its_strategy(
        client, operator):
    kind = make_task_type("review", strategy="priority_match")
    resp = change(client, kind, assignee_kind="unit")
    assert resp.status_code == 200
    [message] = strategy_errors(resp)
    assert "priority_match" in message
    kind.refresh_from_db()
    assert kind.assignee_kind == "staff"


def test_admin_a_type_without_a_policy_row_turned_to_units_keeps_the_default(
        client, operator):
    kind = TaskType.objects.create(key="bare", name="Bare")  # least_loaded serves units too
    resp = change(client, kind, assignee_kind="unit")
    assert resp.status_code == 302, resp.context["errors"] if resp.context else resp
    kind.refresh_from_db()
    assert kind.assignee_kind == "unit"
    assert not AssignmentPolicy.objects.filter(task_type=kind).exists()


def test_admin_adding_a_staff_type_with_a_unit_only_strategy_is_a_form_error(client, operator):
    data = form_data(client.get("/admin/tasks/tasktype/add/"), key="new", name="New",
                     **{f"{PREFIX}-0-strategy": "busyover"})
    resp = client.post("/admin/tasks/tasktype/add/", data)
    assert resp.status_code == 200
    assert "busyover" in strategy_errors(resp)[0]
    assert not TaskType.objects.filter(key="new").exists()


def test_admin_adding_a_unit_type_with_a_unit_strategy(client, operator):
    data = form_data(client.get("/admin/tasks/tasktype/add/"), key="new", name="New",
                     assignee_kind="unit", **{f"{PREFIX}-0-strategy": "busyover"})
    resp = client.post("/admin/tasks/tasktype/add/", data)
    assert resp.status_code == 302, resp.context["errors"] if resp.context else resp
    assert AssignmentPolicy.objects.get(task_type__key="new").strategy == "busyover"


def test_admin_a_unit_types_bad_filters_are_a_form_error(client, operator):
    kind = make_task_type("doc", assignee_kind="unit")
    resp = change(client, kind, **{f"{PREFIX}-0-strategy_params": '{"min_cpu_free": 5}'})
    assert resp.status_code == 200
    [inline] = [i for i in resp.context["inline_admin_formsets"]
                if i.formset.model is AssignmentPolicy]
    assert "min_cpu_free" in str(inline.formset.forms[0].errors["strategy_params"])
    assert policy_of(task_type=kind).strategy_params == {}
