"""A request that waits too long escalates: once, to the manager's manager or the admins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from apps.approvals import services
from apps.approvals.models import ApprovalRequest
from apps.approvals.selectors import approval_counts
from apps.approvals.tasks import escalate_overdue_approvals
from apps.core.actors import Actor
from apps.core.metrics import snapshot_take
from apps.staff.services import team_update
from tests.approvals.flows import creation_request
from tests.builders import make_staff, make_user

pytestmark = pytest.mark.django_db


def _later(request: ApprovalRequest, seconds: int = 1):
    return request.due_at + timedelta(seconds=seconds)


def test_a_request_is_due_after_the_configured_time(settings, rita, needs_approval):
    settings.APPROVAL_ESCALATE_AFTER = 3600
    request = creation_request(by=rita, task_type=needs_approval)
    assert request.due_at - request.created_at == timedelta(hours=1)


def test_nothing_escalates_before_its_deadline(asked, mailoutbox,
                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert services.approvals_escalate(now=asked.due_at - timedelta(seconds=1)) == 0
    asked.refresh_from_db()
    assert asked.escalated_at is None and mailoutbox == []


def test_an_overdue_request_escalates_to_the_managers_manager_once(
        victor, asked, mailoutbox, django_capture_on_commit_callbacks):
    now = _later(asked)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.approvals_escalate(now=now) == 1

    asked.refresh_from_db()
    assert asked.escalated_at == now and asked.status == "pending" and asked.overdue_at(now)
    assert [m.to for m in mailoutbox] == [[victor.email]]
    assert "buy a server" in mailoutbox[0].body and "overdue" in mailoutbox[0].subject

    with django_capture_on_commit_callbacks(execute=True):
        assert services.approvals_escalate(now=now + timedelta(hours=5)) == 0
    asked.refresh_from_db()
    assert asked.escalated_at == now
    assert len(mailoutbox) == 1


def test_a_completion_escalates_along_the_assignees_team(
        victor, submitted, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.approvals_escalate(now=_later(submitted))
    assert [m.to for m in mailoutbox] == [[victor.email]]


def test_without_a_managers_manager_the_admins_are_told(
        olga, needs_approval, mailoutbox, django_capture_on_commit_callbacks):
    other_admin = make_user("oscar", admin=True)
    no_mail = make_user("nomail", admin=True)
    no_mail.email = ""
    no_mail.save()
    loner = make_staff("lonely").user  # in no team
    request = creation_request(by=loner, task_type=needs_approval)

    with django_capture_on_commit_callbacks(execute=True):
        services.approvals_escalate(now=_later(request))

    assert sorted(m.to[0] for m in mailoutbox) == sorted([olga.email, other_admin.email])


def test_a_team_without_a_parent_escalates_to_the_admins(
        olga, margaret, platform, rita, asked, mailoutbox, django_capture_on_commit_callbacks):
    team_update(team=platform, parent=None)
    with django_capture_on_commit_callbacks(execute=True):
        services.approvals_escalate(now=_later(asked))
    assert [m.to for m in mailoutbox] == [[olga.email]]


def test_a_decided_request_does_not_escalate(margaret, asked, mailoutbox,
                                             django_capture_on_commit_callbacks):
    services.approval_approve(request_id=asked.pk, by=Actor.for_user(margaret))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.approvals_escalate(now=_later(asked)) == 0
    assert [m for m in mailoutbox if "overdue" in m.subject] == []


def test_the_escalation_is_announced(asked, django_capture_on_commit_callbacks):
    from apps.core.events import _subscribers, subscribe

    seen = []

    @subscribe("approval.escalated")
    def collect(name, payload):
        seen.append(payload)

    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.approvals_escalate(now=_later(asked))
    finally:
        _subscribers["approval.escalated"].remove(collect)
    assert [(p["request_id"], p["to"]) for p in seen] == [(asked.pk, "manager")]


def test_the_celery_task_runs_the_sweep_and_beat_runs_it_every_minute(asked):
    ApprovalRequest.objects.filter(pk=asked.pk).update(
        due_at=timezone.now() - timedelta(seconds=1))
    assert escalate_overdue_approvals() == 1
    entry = django_settings.CELERY_BEAT_SCHEDULE["approvals.escalate"]
    assert entry == {"task": "apps.approvals.tasks.escalate_overdue_approvals",
                     "schedule": 60.0}


def test_counts_for_stats_show_pending_and_overdue_by_kind(asked, submitted):
    ApprovalRequest.objects.filter(pk=asked.pk).update(
        due_at=timezone.now() - timedelta(seconds=1))
    assert approval_counts() == {
        "pending_creation": 1, "pending_completion": 1,
        "overdue_creation": 1, "overdue_completion": 0,
    }


def test_metrics_show_pending_and_overdue_requests(client, settings, asked):
    ApprovalRequest.objects.filter(pk=asked.pk).update(
        due_at=timezone.now() - timedelta(seconds=1))
    snapshot_take()  # the gauges over the database are read there, not per scrape
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]  # the test client's address
    text = client.get("/metrics").content.decode()
    assert 'taskmanage_approvals_waiting{kind="creation",state="pending"} 1.0' in text
    assert 'taskmanage_approvals_waiting{kind="creation",state="overdue"} 1.0' in text
    assert 'taskmanage_approvals_waiting{kind="completion",state="overdue"} 0.0' in text
