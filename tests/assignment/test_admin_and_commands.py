from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from apps.assignment.models import Assignment
from apps.tasks.states import TaskStatus
from tests.builders import create_task, make_staff, make_task_type, require

pytestmark = pytest.mark.django_db


def test_the_assign_command_assigns_and_reports_the_unassignable(margaret):
    make_staff("ann", capacity=2)
    for _ in range(3):
        create_task(by=margaret)
    create_task(by=margaret, task_type=require(make_task_type(), {"cobol": 5}))
    out = StringIO()
    call_command("assign", "--sweeps", stdout=out)
    assert "assigned: 2, left unassignable: 2" in out.getvalue()
    assert Assignment.objects.count() == 2


def test_bulk_reassign_in_the_admin_takes_tasks_back(client, olga,
                                                   django_capture_on_commit_callbacks):
    client.force_login(olga)
    ann, ben = make_staff("ann"), make_staff("ben")
    task = create_task(by=olga)
    call_command("assign", stdout=StringIO())
    task.refresh_from_db()
    first = task.assignee_user
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post("/admin/tasks/task/", {
            "action": "reassign_selected", "_selected_action": [str(task.pk)]}, follow=True)
    assert "1 task sent for reassignment." in resp.content.decode()
    task.refresh_from_db()
    assert task.status == TaskStatus.ASSIGNED and task.assignee_user != first
    assert {first, task.assignee_user} == {ann.user, ben.user}


@pytest.mark.parametrize("url", ["/admin/assignment/assignment/",
                                 "/admin/assignment/unassignable/"])
def test_assignment_records_are_listed_in_the_admin(client, olga, url):
    client.force_login(olga)
    assert client.get(url).status_code == 200
