"""`manage.py demo_data`: a first look at a working system, loaded once."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.tasks.models import Task, TaskType

pytestmark = pytest.mark.django_db



def test_demo_data_loads_once(alice):
    call_command("demo_data", "--if-empty")
    count = Task.objects.count()
    assert count > 0 and TaskType.objects.exists()
    call_command("demo_data", "--if-empty")
    assert Task.objects.count() == count


def test_demo_task_types_are_made_as_an_operator_makes_them(alice):
    call_command("demo_data", "--if-empty")

    review = TaskType.objects.get(key="invoice_review")
    assert review.assignment_policy.strategy == "least_loaded"  # a policy row, not defaults
    assert list(review.required_skills.values_list("skill__name", "level")) == [
        ("accounting", 3)]


def test_the_demo_has_a_sharded_task_a_unit_can_take(alice):
    from apps.execution import services as unit_services

    call_command("demo_data", "--if-empty")
    parent = Task.objects.get(reference="kb-all")
    assert parent.shard_count == 4 and parent.status == "queued"

    unit_services.units_dispatch_waiting()  # the units sweep's pass: split into its shards

    parent.refresh_from_db()
    assert parent.status == "running"
    assert parent.children.filter(status="queued").count() == 4


def test_the_demo_has_schedules_and_a_workflow_for_their_pages(alice):
    from apps.schedules.models import Schedule
    from apps.workflows.models import Workflow

    call_command("demo_data", "--if-empty")

    assert set(Schedule.objects.values_list("name", flat=True)) == {
        "Tidy the index", "Nightly wiki export"}
    workflow = Workflow.objects.get(name="Publish the handbook")
    statuses = sorted(workflow.nodes.values_list("task__status", flat=True))
    assert statuses == ["blocked"] * 4 + ["queued"]  # only the first step is ready
