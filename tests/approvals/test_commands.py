"""`manage.py approvals list|expire`: the inbox and stale requests from the command line."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.approvals.models import ApprovalRequest
from apps.tasks.models import Task, TaskHistory
from apps.tasks.states import TaskStatus

S = TaskStatus
pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = StringIO()
    call_command("approvals", *args, stdout=out)
    return out.getvalue()


def _age(request: ApprovalRequest, *, hours: float, overdue: bool = False) -> None:
    created = timezone.now() - timedelta(hours=hours)
    due = timezone.now() + (timedelta(hours=-1) if overdue else timedelta(hours=1))
    ApprovalRequest.objects.filter(pk=request.pk).update(created_at=created, due_at=due)


def test_list_prints_the_pending_requests(asked, submitted, margaret):
    out = _run("list")
    assert f"#{asked.pk} creation" in out and "buy a server" in out and "by rita" in out
    assert f"#{submitted.pk} completion" in out and "by alice" in out
    assert out.strip().endswith("2 pending")


def test_list_overdue_prints_only_those_past_their_deadline(asked, submitted):
    _age(asked, hours=30, overdue=True)
    out = _run("list", "--overdue")
    assert f"#{asked.pk}" in out and "OVERDUE" in out
    assert f"#{submitted.pk}" not in out
    assert out.strip().endswith("1 pending overdue")


def test_expire_withdraws_stale_requests_as_the_system(asked, submitted):
    _age(asked, hours=50)
    _age(submitted, hours=1)

    out = _run("expire", "--older-than-hours", "48")

    assert out.strip() == "expired: 1"
    asked.refresh_from_db()
    assert (asked.status, asked.decider, asked.comment) == ("withdrawn", None, "expired")
    assert Task.objects.get(pk=asked.task_id).status == S.CANCELLED
    row = TaskHistory.objects.filter(task_id=asked.task_id).latest("id")
    assert (row.transition, row.actor_kind, row.actor_name, row.reason) == (
        "cancel", "system", "approvals", "expired")
    assert ApprovalRequest.objects.get(pk=submitted.pk).status == "pending"


def test_an_expired_review_gives_the_work_back_to_its_assignee(alice, submitted, mailoutbox,
                                                              django_capture_on_commit_callbacks):
    _age(submitted, hours=10)
    with django_capture_on_commit_callbacks(execute=True):
        assert _run("expire", "--older-than-hours", "5").strip() == "expired: 1"
    task = Task.objects.get(pk=submitted.task_id)
    assert (task.status, task.assignee_user) == (S.RUNNING, alice)
    assert [m.to for m in mailoutbox] == [[alice.email]]
    assert "withdrawn by the system" in mailoutbox[0].body


def test_expire_with_nothing_stale_expires_nothing(asked):
    assert _run("expire", "--older-than-hours", "1").strip() == "expired: 0"


def test_the_command_needs_a_subcommand_and_its_arguments():
    with pytest.raises(CommandError):
        _run()
    with pytest.raises(CommandError):
        _run("expire")
    with pytest.raises(CommandError):
        _run("expire", "--older-than-hours", "-1")
