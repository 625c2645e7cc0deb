"""The migrations that moved the assignment settings off the task type carry every type's
values over, and back again when reversed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("assignment", "0002_exclusions_per_attempt"), ("tasks", "0003_fewer_task_indexes")]
AFTER = [("assignment", "0003_assignment_policy"), ("tasks", "0004_assignment_settings_moved")]
SETTINGS = {"requires_assignment_confirmation": True, "strategy": "failover",
            "strategy_params": {"order": ["ann"]}, "confirmation_timeout": 60,
            "skill_timeout": 120, "leave_policy": "keep"}


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_every_types_settings_are_copied_to_its_policy_and_back():
    latest = [key for key in MigrationExecutor(connection).loader.graph.leaf_nodes()]
    try:
        old = migrate(BEFORE)
        User = old.get_model("auth", "User")
        TaskType = old.get_model("tasks", "TaskType")
        olga = User.objects.create(username="olga")
        custom = TaskType.objects.create(key="custom", name="Custom", overflow_assignee=olga,
                                         **SETTINGS)
        plain = TaskType.objects.create(key="plain", name="Plain")

        new = migrate(AFTER)
        Policy = new.get_model("assignment", "AssignmentPolicy")
        fields = [*SETTINGS, "overflow_assignee_id"]
        copied = {p["task_type_id"]: p for p in Policy.objects.values("task_type_id", *fields)}
        assert copied[custom.pk] == {"task_type_id": custom.pk, **SETTINGS,
                                     "overflow_assignee_id": olga.pk}
        assert copied[plain.pk] == {
            "task_type_id": plain.pk, "requires_assignment_confirmation": False,
            "strategy": "least_loaded", "strategy_params": {}, "confirmation_timeout": 3600,
            "skill_timeout": None, "leave_policy": "reassign_not_started",
            "overflow_assignee_id": None}
        Policy.objects.filter(task_type_id=plain.pk).update(strategy="round_robin")

        back = migrate(BEFORE)
        restored = back.get_model("tasks", "TaskType").objects
        assert restored.values(*fields).get(pk=custom.pk) == {**SETTINGS,
                                                              "overflow_assignee_id": olga.pk}
        assert restored.get(pk=plain.pk).strategy == "round_robin"
    finally:
        migrate(latest)
