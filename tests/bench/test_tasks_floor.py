"""The database floor of `bench tasks` writes what the API writes, straight on PostgreSQL.

pgbench runs the create transaction as another process against this test database, so the
rows it commits are read back here: a floor with a typo in its SQL would otherwise just
report a rate of failed transactions.
"""

from __future__ import annotations

import shutil

import pytest
from django.db import connection

from apps.tasks.models import Task, TaskHistory
from apps.tasks.states import AssigneeKind, TaskStatus
from bench.areas.tasks import _create_transaction_script
from bench.harness import Principal, pgbench
from tests.builders import make_task_type, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_pgbench_runs_the_api_create_transaction_task_and_history_row_each():
    if connection.vendor != "postgresql" or shutil.which("pgbench") is None:
        pytest.skip("needs PostgreSQL and pgbench")
    user = make_user("bench-user")
    task_type = make_task_type("bench-tasks", assignee_kind=AssigneeKind.UNIT)

    result = pgbench(_create_transaction_script(Principal(user, "-"), task_type, "t1"),
                     clients=2, seconds=1)

    tasks = Task.objects.filter(title__startswith="bench-pg-t1-")
    assert result.tps > 0 and result.clients == 2
    assert tasks.count() >= 1
    assert set(tasks.values_list("status", "created_by", "task_type")) == {
        (TaskStatus.QUEUED, user.pk, task_type.pk)}
    history = TaskHistory.objects.filter(task__in=tasks)
    assert history.count() == tasks.count()
    assert set(history.values_list("transition", "to_status", "actor_user")) == {
        ("create", TaskStatus.QUEUED, user.pk)}


def test_pgbench_is_skipped_off_postgresql():
    if connection.vendor == "postgresql":
        pytest.skip("the SQLite answer is checked on SQLite runs")

    assert pgbench("SELECT 1;", clients=1, seconds=1) is None
