"""Alerts: one per incident within the quiet period, again after it; sent after the domain's
commit by email (Django's outbox) and by a signed webhook to a real local receiver."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from taskmanage_client.webhooks import InvalidSignature, verify

from apps.alerts import services
from apps.alerts.models import Alert, AlertIncident, AlertKind
from apps.approvals.models import ApprovalRequest
from apps.core.actors import Actor
from apps.execution import beats
from apps.execution import services as unit_services
from apps.execution.models import ExecutionUnit
from apps.tasks.models import Task
from tests.builders import make_task_type, task_in_state
from tests.concurrency import race

from .conftest import make_rule

pytestmark = pytest.mark.django_db
K = AlertKind


def fail_one(creator, kind, on_commit):
    with on_commit(execute=True):
        return task_in_state("failed", creator=creator, task_type=kind)


def quiet_period_passes(rule) -> None:
    """As if the rule's quiet period had gone by since its incidents last sent."""
    AlertIncident.objects.filter(rule=rule).update(
        last_sent_at=timezone.now() - timedelta(seconds=rule.quiet_period_seconds + 1))


# --- a task ending failed: event-driven --------------------------------------------------------
def test_a_failed_task_alerts_by_email_and_signed_webhook(
        alice, receiver, django_capture_on_commit_callbacks):
    kind = make_task_type("billing", max_retries=0)
    rule = make_rule(K.TASK_FAILED, webhook_url=receiver.url, email_to="a@x.org, b@x.org")

    task = fail_one(alice, kind, django_capture_on_commit_callbacks)

    (alert,) = Alert.objects.all()
    assert (alert.rule_id, alert.subject, alert.email_status, alert.webhook_status) == (
        rule.pk, "task_type:billing", "sent", "sent")
    (email,) = mail.outbox
    assert email.to == ["a@x.org", "b@x.org"]
    assert "billing" in email.subject and str(task.pk) in email.body
    (req,) = receiver.requests
    headers = req["headers"]
    verify(rule.webhook_secret, headers["X-TaskManage-Timestamp"], req["body"],
           headers["X-TaskManage-Signature"])  # raises unless signed with the rule's secret
    with pytest.raises(InvalidSignature):
        verify("another secret", headers["X-TaskManage-Timestamp"], req["body"],
               headers["X-TaskManage-Signature"])
    assert req["json"]["kind"] == "task_failed"
    assert req["json"]["details"]["task_id"] == str(task.pk)
    assert headers["X-TaskManage-Alert"] == str(alert.pk)
    assert alert.webhook_status_code == 200


def test_one_incident_is_one_alert_until_the_quiet_period_has_passed(
        alice, django_capture_on_commit_callbacks):
    billing = make_task_type("billing", max_retries=0)
    mail_type = make_task_type("mailing", max_retries=0)
    rule = make_rule(K.TASK_FAILED, quiet_period_seconds=600)

    for _ in range(3):
        fail_one(alice, billing, django_capture_on_commit_callbacks)
    assert Alert.objects.count() == 1 and len(mail.outbox) == 1
    fail_one(alice, mail_type, django_capture_on_commit_callbacks)  # another subject
    assert sorted(Alert.objects.values_list("subject", flat=True)) == [
        "task_type:billing", "task_type:mailing"]

    quiet_period_passes(rule)
    fail_one(alice, billing, django_capture_on_commit_callbacks)

    assert Alert.objects.filter(subject="task_type:billing").count() == 2
    assert AlertIncident.objects.get(rule=rule, subject="task_type:billing").alerts_sent == 2
    assert len(mail.outbox) == 3


def test_a_rule_for_one_type_ignores_the_others_and_inactive_rules_send_nothing(
        alice, django_capture_on_commit_callbacks):
    billing = make_task_type("billing", max_retries=0)
    other = make_task_type("other", max_retries=0)
    make_rule(K.TASK_FAILED, task_type=billing)
    make_rule(K.TASK_FAILED, name="off", is_active=False)

    fail_one(alice, other, django_capture_on_commit_callbacks)
    assert not Alert.objects.exists()
    fail_one(alice, billing, django_capture_on_commit_callbacks)
    assert list(Alert.objects.values_list("rule_name", flat=True)) == ["task_failed rule"]


def test_nothing_is_sent_before_the_domain_commits(alice, django_capture_on_commit_callbacks):
    kind = make_task_type(max_retries=0)
    make_rule(K.TASK_FAILED)
    with django_capture_on_commit_callbacks(execute=False) as pending:
        task_in_state("failed", creator=alice, task_type=kind)
    assert not Alert.objects.exists() and mail.outbox == []  # still inside the transaction
    with django_capture_on_commit_callbacks(execute=True):  # the domain's commit
        for callback in pending:
            callback()
    assert Alert.objects.count() == 1 and len(mail.outbox) == 1


def test_a_retried_failure_is_not_an_ended_failure(alice, django_capture_on_commit_callbacks):
    kind = make_task_type(max_retries=3)
    make_rule(K.TASK_FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        task = task_in_state("running", creator=alice, task_type=kind)
        from apps.tasks import services as task_services

        task_services.task_transition(task_id=task.pk, action="fail", by=Actor.for_user(alice),
                                      error="boom")
    assert Task.objects.get(pk=task.pk).status == "scheduled"
    assert not Alert.objects.exists()


# --- a unit going offline: event-driven --------------------------------------------------------
def test_a_unit_going_offline_alerts_once(settings, django_capture_on_commit_callbacks):
    settings.UNIT_HEARTBEAT_GRACE_SECONDS = 0
    settings.UNITS_KEY_PREFIX = f"tm:test:alerts:{timezone.now().timestamp()}:"
    beats.reset_client()
    docs = make_task_type("docs", assignee_kind="unit")
    make_rule(K.UNIT_OFFLINE, task_type=docs)
    unit_services.unit_register(unit_id="worker-9", by=Actor.system("tests"), may_rotate=True,
                                unit_type="docs", heartbeat_timeout=5)

    with django_capture_on_commit_callbacks(execute=True):
        unit_services.units_sweep(now=timezone.now() + timedelta(seconds=6))

    assert ExecutionUnit.objects.get(unit_id="worker-9").status == "offline"
    (alert,) = Alert.objects.all()
    assert alert.subject == "unit:worker-9" and "worker-9" in mail.outbox[0].subject
    beats.reset_client()


# --- thresholds: the sweep ---------------------------------------------------------------------
def test_an_sla_breach_alerts_once_then_again_while_it_lasts(alice):
    kind = make_task_type("billing")
    rule = make_rule(K.SLA_BREACH, quiet_period_seconds=300)
    late = task_in_state("queued", creator=alice, task_type=kind)
    Task.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    task_in_state("queued", creator=alice, task_type=kind,
                  due_at=timezone.now() + timedelta(hours=1))  # not yet due

    assert services.alerts_sweep() == 1
    assert services.alerts_sweep() == 0  # the same incident, within the quiet period
    (alert,) = Alert.objects.all()
    assert alert.subject == "sla:billing" and alert.details["overdue"] == 1

    quiet_period_passes(rule)
    assert services.alerts_sweep() == 1  # still overdue: reminded once more


def test_a_backed_up_queue_alerts_on_depth_or_age(alice):
    kind = make_task_type("billing")
    make_rule(K.QUEUE_BACKED_UP, name="deep", max_depth=2)
    make_rule(K.QUEUE_BACKED_UP, name="old", max_age_seconds=600)
    for _ in range(2):
        task_in_state("queued", creator=alice, task_type=kind)
    assert services.alerts_sweep() == 0  # 2 is not more than 2; 5 minutes is not 10

    oldest = task_in_state("queued", creator=alice, task_type=kind)
    Task.objects.filter(pk=oldest.pk).update(queued_at=timezone.now() - timedelta(hours=1))

    assert services.alerts_sweep() == 2
    assert sorted(Alert.objects.values_list("rule_name", "subject")) == [
        ("deep", "queue:billing"), ("old", "queue:billing")]


def test_an_overdue_approval_alerts_once_per_request(alice):
    make_rule(K.APPROVAL_OVERDUE)
    task_in_state("pending_approval", creator=alice)
    (request,) = ApprovalRequest.objects.all()
    assert services.alerts_sweep() == 0  # not due yet

    later = request.due_at + timedelta(seconds=1)
    assert services.alerts_sweep(now=later) == 1
    assert services.alerts_sweep(now=later + timedelta(seconds=5)) == 0
    assert Alert.objects.get().subject == f"approval:{request.pk}"


# --- delivery ----------------------------------------------------------------------------------
def test_a_delivery_run_twice_sends_once(alice, receiver):
    rule = make_rule(K.SLA_BREACH, webhook_url=receiver.url)
    alert = services.alert_fire(rule=rule, firing=services.Firing("s", "summary", {}))
    assert mail.outbox == []  # the message goes after commit (not captured here)

    services.alert_deliver(alert_id=alert.pk)
    services.alert_deliver(alert_id=alert.pk)

    assert len(mail.outbox) == 1 and len(receiver.requests) == 1


def test_a_private_webhook_address_is_refused_and_recorded(settings, alice):
    settings.CALLBACK_ALLOW_PRIVATE = True
    rule = make_rule(K.SLA_BREACH, webhook_url="http://localhost:9/hook", email_to="")
    settings.CALLBACK_ALLOW_PRIVATE = False

    alert = services.alert_fire(rule=rule, firing=services.Firing("s", "summary", {}))
    services.alert_deliver(alert_id=alert.pk)
    alert.refresh_from_db()

    assert alert.webhook_status == "failed"
    assert alert.webhook_error.startswith("refused:")


@pytest.mark.parametrize("fields, field", [
    ({"email_to": "", "webhook_url": ""}, "email_to"),
    ({"email_to": "not-an-address"}, "email_to"),
    ({"webhook_url": "http://10.0.0.1/hook"}, "webhook_url"),
    ({"webhook_url": "ftp://example.com/"}, "webhook_url"),
    ({"kind": K.QUEUE_BACKED_UP}, "max_depth"),
    ({"max_depth": 3}, "max_depth"),
])
def test_a_rule_that_cannot_work_is_refused_naming_the_field(fields, field):
    fields = {"kind": K.SLA_BREACH, **fields}
    with pytest.raises(ValidationError) as refused:
        make_rule(**fields)
    assert field in refused.value.message_dict


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real concurrent connections")
def test_the_same_incident_firing_at_once_in_many_workers_sends_one_alert():
    rule = make_rule(K.SLA_BREACH, email_to="oncall@example.com")
    firing = services.Firing("sla:billing", "late", {})

    outcomes = race(6, lambda i: services.alert_fire(rule=rule, firing=firing))

    assert [type(o) for o in outcomes if o is not None] == [Alert]
    assert Alert.objects.count() == 1
    assert AlertIncident.objects.get().alerts_sent == 1


def test_an_alert_whose_message_was_lost_is_delivered_by_the_sweep():
    rule = make_rule(K.SLA_BREACH)
    alert = services.alert_fire(rule=rule, firing=services.Firing("s", "summary", {}))
    assert services.alerts_sweep() == 0 and mail.outbox == []  # too recent to be lost

    services.alerts_sweep(now=alert.created_at + timedelta(minutes=2))

    assert len(mail.outbox) == 1
    alert.refresh_from_db()
    assert alert.email_status == "sent"
