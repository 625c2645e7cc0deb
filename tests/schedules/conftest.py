"""Schedules made through the service, as the API and the admin make them."""

from __future__ import annotations

import pytest

from apps.core.actors import Actor
from apps.schedules.services import schedule_create
from tests.builders import make_task_type


@pytest.fixture
def report_type():
    return make_task_type("report")


def make_schedule(task_type, *, by=None, **fields):
    fields.setdefault("name", f"schedule {task_type.key} {len(fields)}-{id(fields)}")
    fields.setdefault("title", "Report {planned:%Y-%m-%d %H:%M}")
    fields.setdefault("task_type", task_type)
    if not any(k in fields for k in ("cron", "interval_seconds", "delay_seconds",
                                     "run_once_at")):
        fields["cron"] = "0 9 * * *"
    actor = Actor.for_user(by) if by is not None else Actor.system("tests")
    return schedule_create(fields=fields, by=actor)
