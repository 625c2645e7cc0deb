"""A task type's assignment policy: owned by apps.assignment, defaults for a type without a
row, its strategy checked against the registry (API, admin, service), loaded once per batch,
and the engine reading what a strategy is from its class, not from its name."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.assignment import services
from apps.assignment.models import Assignment, AssignmentPolicy, RoundRobinCursor
from apps.assignment.selectors import policy_of
from apps.assignment.strategies import STRATEGIES, OptimalBatch, RoundRobin, register
from apps.core.actors import Actor
from apps.core.exceptions import InvalidInput
from apps.tasks.models import TaskType
from apps.tasks.states import TaskStatus
from tests.builders import api_client, create_task, make_staff, make_task_type

pytestmark = pytest.mark.django_db
S = TaskStatus



@pytest.fixture
def registered():
    """Register test strategies for one test only."""
    added = []

    def add(cls):
        added.append(cls.name)
        return register(cls)

    yield add
    for name in added:
        STRATEGIES.pop(name, None)


# --- defaults -----------------------------------------------------------------------------------
def test_a_type_without_a_row_is_assigned_with_the_defaults(margaret):
    bare = TaskType.objects.create(key="made-elsewhere", name="Made elsewhere")  # no policy row
    assert not AssignmentPolicy.objects.filter(task_type=bare).exists()
    ann = make_staff("ann")
    task = create_task(by=margaret, task_type=bare)

    assert services.assign_queued().assigned == 1

    task.refresh_from_db()
    record = Assignment.objects.get(task=task)
    assert (task.status, task.assignee_user) == (S.ASSIGNED, ann.user)
    assert (record.strategy, record.outcome, record.expires_at) == ("least_loaded", "accepted",
                                                                    None)
    assert not AssignmentPolicy.objects.filter(task_type=bare).exists()  # nothing written


def test_the_api_shows_a_type_without_a_row_with_the_defaults(olga):
    TaskType.objects.create(key="made-elsewhere", name="Made elsewhere")
    body = api_client(olga).get("/api/v1/task-types/made-elsewhere").json()
    assert {k: body[k] for k in ("requires_assignment_confirmation", "strategy",
                                 "strategy_params", "confirmation_timeout", "skill_timeout",
                                 "overflow_assignee", "leave_policy")} == {
        "requires_assignment_confirmation": False, "strategy": "least_loaded",
        "strategy_params": {}, "confirmation_timeout": 3600, "skill_timeout": None,
        "overflow_assignee": None, "leave_policy": "reassign_not_started"}


def test_the_policy_default_is_never_cached_on_the_type_as_its_row():
    bare = TaskType.objects.create(key="bare", name="Bare")
    assert policy_of(task_type=bare).strategy == "least_loaded"
    AssignmentPolicy.objects.create(task_type=bare, strategy="round_robin")
    assert policy_of(task_type=TaskType.objects.get(pk=bare.pk)).strategy == "round_robin"


def test_api_writes_land_in_the_policy_row(olga):
    resp = api_client(olga).post("/api/v1/task-types", {
        "key": "callback", "name": "Callback", "strategy": "round_robin",
        "requires_assignment_confirmation": True, "confirmation_timeout": 60}, format="json")
    assert resp.status_code == 201, resp.json()
    policy = AssignmentPolicy.objects.get(task_type__key="callback")
    assert (policy.strategy, policy.requires_assignment_confirmation,
            policy.confirmation_timeout) == ("round_robin", True, 60)
    resp = api_client(olga).patch("/api/v1/task-types/callback", {"leave_policy": "keep"},
                                  format="json")
    assert resp.status_code == 200 and resp.json()["strategy"] == "round_robin"
    policy.refresh_from_db()
    assert (policy.leave_policy, policy.strategy) == ("keep", "round_robin")


# --- strategy checked against the registry ------------------------------------------------------
def test_an_unknown_strategy_is_a_400_naming_strategy_and_the_known_ones(olga):
    resp = api_client(olga).post("/api/v1/task-types", {
        "key": "typo", "name": "Typo", "strategy": "least_laoded"}, format="json")
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == "invalid"
    [message] = body["strategy"]
    assert "least_laoded" in message
    assert all(name in message for name in ("least_loaded", "round_robin", "optimal_batch"))
    assert not TaskType.objects.filter(key="typo").exists()


def test_an_unknown_strategy_on_update_changes_nothing(olga):
    kind = make_task_type("callback", strategy="failover")
    resp = api_client(olga).patch("/api/v1/task-types/callback",
                                  {"strategy": "nope", "name": "Renamed"}, format="json")
    assert resp.status_code == 400 and "strategy" in resp.json()
    kind.refresh_from_db()
    assert kind.name == "Callback" and policy_of(task_type=kind).strategy == "failover"


def test_the_service_refuses_an_unknown_strategy_for_any_caller():
    kind = make_task_type("callback")
    with pytest.raises(InvalidInput) as exc:
        services.assignment_policy_set(task_type=kind, by=Actor.system("t"), strategy="nope")
    assert list(exc.value.fields) == ["strategy"]
    assert "least_loaded" in exc.value.fields["strategy"][0]


@pytest.mark.parametrize("params", [[], "weights", 3, True, None])
def test_strategy_params_that_are_not_an_object_are_a_400_and_nothing_is_created(olga,
                                                                              params):
    # Every router reads them with .get(): stored, a list would fail each later assignment.
    resp = api_client(olga).post("/api/v1/task-types", {
        "key": "odd", "name": "Odd", "strategy_params": params}, format="json")
    assert resp.status_code == 400
    assert list(resp.json()) == ["strategy_params", "detail", "code"]
    assert not TaskType.objects.filter(key="odd").exists()


def test_the_service_refuses_strategy_params_that_are_not_an_object_for_any_caller():
    kind = make_task_type("callback")  # the admin's form goes through this check
    with pytest.raises(InvalidInput) as exc:
        services.assignment_policy_set(task_type=kind, by=Actor.system("t"),
                                       strategy_params=["weights"])
    assert list(exc.value.fields) == ["strategy_params"]
    assert policy_of(task_type=kind).strategy_params == {}


def test_a_strategy_registered_by_a_project_is_accepted(olga, registered):
    @registered
    class Mine(RoundRobin):
        name = "mine"

    resp = api_client(olga).post("/api/v1/task-types", {
        "key": "own", "name": "Own", "strategy": "mine"}, format="json")
    assert resp.status_code == 201, resp.json()


# --- the engine ---------------------------------------------------------------------------------
def test_policies_are_read_once_per_batch_whatever_the_number_of_types(margaret):
    make_staff("ann", capacity=50)

    def policy_queries(types: int) -> int:
        kinds = [make_task_type() for _ in range(types)]
        for kind in kinds:
            create_task(by=margaret, task_type=kind)
        with CaptureQueriesContext(connection) as ctx:
            assert services.assign_queued().assigned == types
        return sum('"assignment_assignmentpolicy"' in q["sql"] for q in ctx.captured_queries)

    assert policy_queries(1) == policy_queries(6) == 1


def test_a_strategy_keeping_a_cursor_is_known_by_its_class_not_its_name(margaret, registered):
    @registered
    class Turns(RoundRobin):
        name = "turns"

    kind = make_task_type(strategy="turns")
    make_staff("ann")
    create_task(by=margaret, task_type=kind)
    services.assign_queued()
    assert RoundRobinCursor.objects.filter(task_type=kind).exists()


def test_a_strategy_planning_the_batch_is_known_by_its_class_not_its_name(margaret, registered):
    @registered
    class WholeBatch(OptimalBatch):
        """Plans only as a batch: the greedy path would fail loudly."""

        name = "whole_batch"

        def picker(self, candidates, ctx):
            raise AssertionError("planned greedily")

        def best(self, task, candidates, ctx):
            raise AssertionError("planned greedily")

    kind = make_task_type(strategy="whole_batch")
    make_staff("ann", capacity=5)
    tasks = [create_task(by=margaret, task_type=kind) for _ in range(3)]
    assert services.assign_queued().assigned == 3
    assert set(Assignment.objects.filter(task__in=tasks).values_list("strategy", flat=True)) \
        == {"whole_batch"}
