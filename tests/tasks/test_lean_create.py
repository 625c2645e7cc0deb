"""The lean create path answers exactly as the generic one it stands in for.

- TaskSerializer.to_representation is written out: equal to DRF's generic representation.
- plain_spec / plain_specs skip the serializers for plain items: the same TaskSpec where they
  accept an item, and they refuse everything the serializers would refuse.
- insert_rows (COPY / one INSERT on PostgreSQL) stores the rows bulk_create stores.
- the per-process task type cache: a change made here applies at once, elsewhere after the TTL.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from apps.core.db import insert_rows, instance_factory
from apps.tasks import selectors
from apps.tasks.api.serializers import (
    TaskCreateSerializer,
    TaskSerializer,
    plain_spec,
    plain_specs,
)
from apps.tasks.models import Task, TaskType
from apps.tasks.selectors import task_history, tasks_visible_to
from apps.tasks.states import TaskStatus
from tests.builders import (
    api_client,
    create_task,
    insert_task_row,
    make_task_type,
    task_in_state,
)

S = TaskStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def kind():
    return make_task_type("lean-kind")


def rendered(data) -> dict:
    return json.loads(JSONRenderer().render(data))


def generic_representation(task: Task) -> dict:
    ser = TaskSerializer(task)
    return rendered(serializers.ModelSerializer.to_representation(ser, task))


class TestRepresentation:
    def test_equals_drfs_generic_representation_for_tasks_in_every_shape(self, alice, bob, olga,
                                                                          kind):
        holder = bob
        holder.first_name, holder.last_name = "Bob", "Holder"
        holder.save()
        operator = olga  # no member of staff: a plain user holding a task by hand
        dep = create_task(by=alice, task_type=kind)
        parent = create_task(by=alice, task_type=kind)
        shapes = [
            create_task(by=alice, task_type=kind, payload={"n": 1}, labels=["a", "b"],
                        reference="ref-1", idempotency_key="k-1"),
            create_task(by=alice, task_type=kind, depends_on=[dep.pk], parent_id=parent.pk,
                        run_at=datetime(2031, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
                        due_at=datetime(2031, 2, 1, tzinfo=UTC), priority=3),
            create_task(by=alice, task_type=kind, draft=True),
        ]
        # Every field filled at once, as no one path of the life cycle leaves them: a row.
        insert_task_row(
            S.RUNNING, creator=alice, assignee=holder, task_type=kind, attempts=2, progress=40,
            result={"partial": [1]}, estimated_completion=datetime(2030, 5, 5, 12, tzinfo=UTC),
            error="earlier try",
        )
        task_in_state(S.ASSIGNED, creator=alice, assignee=operator, task_type=kind)
        insert_task_row(S.QUEUED, creator=None, task_type=kind)  # its creator is gone
        loaded = list(tasks_visible_to(user=olga)
                      .select_related("created_by").prefetch_related("depends_on"))
        assert len(loaded) == 8
        for task in [*loaded, *shapes]:
            assert rendered(TaskSerializer(task).data) == generic_representation(task)


ITEMS = [
    {"title": "plain", "task_type": "lean-kind"},
    {"title": "all", "task_type": "lean-kind", "priority": "critical", "payload": {"a": [1]},
     "reference": "", "labels": ["x", "y"], "run_at": "2030-01-01T00:00:00Z",
     "due_at": "2030-01-02T00:00:00+02:00", "idempotency_key": "key-1", "draft": True,
     "depends_on": [], "parent": None},
    {"title": "naive date", "task_type": "lean-kind", "run_at": "2030-01-01T10:00"},
    {"title": "nulls", "task_type": "lean-kind", "run_at": None, "due_at": None,
     "idempotency_key": None},
    # what the serializer changes or refuses: plain_spec must leave it to the serializer
    {"title": "  padded  ", "task_type": "lean-kind"},
    {"title": "", "task_type": "lean-kind"},
    {"title": "x" * 301, "task_type": "lean-kind"},
    {"title": 7, "task_type": "lean-kind"},
    {"title": "no type"},
    {"title": "unknown", "task_type": "nope"},
    {"title": "p", "task_type": "lean-kind", "priority": "urgent"},
    {"title": "p", "task_type": "lean-kind", "priority": 3},
    {"title": "p", "task_type": "lean-kind", "priority": None},
    {"title": "p", "task_type": "lean-kind", "payload": [1]},
    {"title": "p", "task_type": "lean-kind", "payload": None},
    {"title": "p", "task_type": "lean-kind", "reference": None},
    {"title": "p", "task_type": "lean-kind", "reference": "r" * 201},
    {"title": "p", "task_type": "lean-kind", "labels": "a"},
    {"title": "p", "task_type": "lean-kind", "labels": [""]},
    {"title": "p", "task_type": "lean-kind", "labels": ["a"] * 51},
    {"title": "p", "task_type": "lean-kind", "labels": [1]},
    {"title": "p", "task_type": "lean-kind", "idempotency_key": ""},
    {"title": "p", "task_type": "lean-kind", "draft": "yes"},
    {"title": "p", "task_type": "lean-kind", "draft": None},
    {"title": "p", "task_type": "lean-kind", "run_at": "soon"},
    {"title": "p", "task_type": "lean-kind", "run_at": "2030-01-02T00:00:00Z",
     "due_at": "2030-01-01T00:00:00Z"},
    {"title": "p", "task_type": "lean-kind", "depends_on": [str(uuid.uuid4())]},
    {"title": "p", "task_type": "lean-kind", "parent": str(uuid.uuid4())},
    {"title": "p", "task_type": "lean-kind", "status": "running"},
    "not an object",
]


class TestPlainSpec:
    @pytest.mark.parametrize("item", ITEMS, ids=range(len(ITEMS)))
    def test_takes_only_what_the_serializer_takes_and_makes_the_same_spec(self, kind, item):
        types = selectors.active_task_types(keys=["lean-kind"])
        ser = TaskCreateSerializer(
            data=item, context={"task_types": types, "visible_ids": set()})
        spec = plain_spec(item, types)
        if not ser.is_valid():
            assert spec is None, ser.errors
        elif spec is not None:
            assert spec == ser.to_spec()

    def test_the_plain_items_above_are_taken(self, kind):
        types = selectors.active_task_types(keys=["lean-kind"])
        assert all(plain_spec(item, types) is not None for item in ITEMS[:4])

    def test_a_batch_with_a_repeated_key_or_a_bad_item_is_left_to_the_serializers(self, kind):
        types = selectors.active_task_types(keys=["lean-kind"])
        ok = {"title": "a", "task_type": "lean-kind"}
        assert len(plain_specs({"tasks": [ok, ok]}, types)) == 2
        keyed = dict(ok, idempotency_key="same")
        assert plain_specs({"tasks": [keyed, keyed]}, types) is None
        assert plain_specs({"tasks": [ok, dict(ok, title="")]}, types) is None
        assert plain_specs({"tasks": []}, types) is None
        assert plain_specs({"tasks": ok}, types) is None
        assert plain_specs([ok], types) is None

    def test_a_bad_item_among_plain_ones_is_named_by_index_and_nothing_is_written(
            self, alice, kind):
        items = [{"title": f"t{i}", "task_type": kind.key} for i in range(5)]
        items[3]["labels"] = ["ok", ""]
        resp = api_client(alice).post("/api/v1/tasks/batch", {"tasks": items}, format="json")
        assert resp.status_code == 400
        assert resp.json()["tasks"] == {"3": {"labels": {"1": ["This field may not be blank."]}}}
        assert not Task.objects.exists()


class TestInsertRows:
    def _pair(self, alice, kind, now=None, **fields):
        now = now or datetime.now(UTC)
        make = instance_factory(Task, created_by_id=alice.pk, created_at=now, updated_at=now)
        return [make(id=uuid.uuid4(), title="t", task_type_id=kind.pk, status=S.QUEUED,
                     queued_at=now, **fields) for _ in range(2)]

    @pytest.mark.parametrize("rows", [1, 3])
    def test_stores_what_bulk_create_stores(self, alice, kind, rows):
        fields = {"payload": {"a": [1, "é\t\\"]}, "labels": ["x"], "reference": "tab\there",
                  "result": None, "idempotency_key": None}
        now = datetime.now(UTC)
        by_us = [t for _ in range(rows) for t in self._pair(alice, kind, now, **fields)[:1]]
        by_django = [t for _ in range(rows) for t in self._pair(alice, kind, now, **fields)[:1]]
        insert_rows(Task, by_us)
        Task.objects.bulk_create(by_django)
        assert all(not t._state.adding for t in by_us)
        # bulk_create stamps updated_at (auto_now) itself; insert_rows stores what it is given.
        ignore = {"id", "updated_at"}

        def stored(task):
            row = Task.objects.filter(pk=task.pk).values().get()
            return {k: v for k, v in row.items() if k not in ignore}

        for ours, theirs in zip(by_us, by_django, strict=True):
            assert stored(ours) == stored(theirs)
        json_null = Task.objects.filter(pk=by_us[0].pk, result__isnull=True).exists()
        assert json_null  # None is SQL NULL in the nullable JSON column, as Django stores it

    def test_a_unique_violation_is_djangos_integrity_error(self, alice, kind):
        first, second = self._pair(alice, kind, idempotency_key="same")
        with pytest.raises(IntegrityError), transaction.atomic():
            insert_rows(Task, [first, second])

    def test_the_factory_gives_each_instance_its_own_mutable_defaults(self, kind):
        make = instance_factory(Task, task_type_id=kind.pk)
        one, two = make(title="a"), make(title="b")
        assert one.payload == {} and one.payload is not two.payload
        assert one.pk != two.pk and one.status == S.DRAFT

    def test_a_batch_writes_tasks_and_history_as_before(self, alice, kind):
        resp = api_client(alice).post("/api/v1/tasks/batch", {"tasks": [
            {"title": f"t{i}", "task_type": kind.key, "payload": {"i": i}} for i in range(3)
        ]}, format="json")
        assert resp.status_code == 201, resp.data
        for item in resp.json()["tasks"]:
            task = Task.objects.get(pk=item["id"])
            (row,) = task_history(task=task)
            assert (task.status, task.created_by, task.task_type) == (S.QUEUED, alice, kind)
            assert (row.transition, row.to_status, row.actor_user, row.actor_name) == (
                "create", S.QUEUED, alice, "alice")
            assert row.reason == "submitted on creation" and row.created_at == task.created_at


class TestTaskTypeCache:
    def create(self, user, key):
        return api_client(user).post("/api/v1/tasks", {"title": "t", "task_type": key},
                                     format="json")

    def test_a_type_changed_in_this_process_applies_at_once(self, alice, kind):
        assert self.create(alice, kind.key).status_code == 201
        kind.is_active = False
        kind.save()
        assert self.create(alice, kind.key).status_code == 400

    def test_a_type_changed_elsewhere_applies_once_the_cache_expires(
            self, alice, kind, monkeypatch):
        assert self.create(alice, kind.key).status_code == 201
        # An UPDATE that sends no signal: what another process's change looks like here.
        TaskType.objects.filter(pk=kind.pk).update(is_active=False)
        assert self.create(alice, kind.key).status_code == 201  # still trusted
        monkeypatch.setattr(selectors, "TASK_TYPE_CACHE_SECONDS", 0.0)
        assert self.create(alice, kind.key).status_code == 400

    def test_a_key_not_found_is_not_remembered(self, alice):
        assert self.create(alice, "made-elsewhere").status_code == 400
        TaskType.objects.bulk_create([TaskType(key="made-elsewhere", name="x")])  # no signal
        assert self.create(alice, "made-elsewhere").status_code == 201


def test_datetimes_in_the_body_are_stored_as_sent(alice, kind):
    run_at = datetime.now(UTC) + timedelta(days=1)
    resp = api_client(alice).post("/api/v1/tasks", {
        "title": "later", "task_type": kind.key, "run_at": run_at.isoformat()}, format="json")
    assert resp.status_code == 201
    assert Task.objects.get(pk=resp.json()["id"]).run_at == run_at
    assert resp.json()["status"] == S.SCHEDULED
