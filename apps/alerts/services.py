"""Alerts: deciding that an incident sends, recording it, and delivering it after commit.

`alert_fire` is the one path by which an alert is made. It runs in a transaction of its own,
called from event subscribers (after the domain's transaction committed) and from the sweep;
the email and the webhook go out later, from a Celery task (`alert_deliver`), never inside
anybody's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from apps.approvals.models import ApprovalRequest, ApprovalStatus
from apps.callbacks import transport
from apps.core.outbox import send_task
from apps.execution.models import ExecutionUnit
from apps.stats.selectors import queue_depths
from apps.tasks.models import Task, TaskType
from apps.tasks.states import OPEN_STATES

from .models import (
    TYPED_KINDS,
    Alert,
    AlertIncident,
    AlertKind,
    AlertRule,
    ChannelStatus,
    split_addresses,
    validate_addresses,
)

K = AlertKind
# A sweep raises at most this many approval alerts per rule in one pass.
SWEEP_BATCH = 200
# Undelivered alerts older than this are delivered by the sweep (their message was lost).
REDRIVE_AFTER = timedelta(seconds=60)


# --- the rules of a valid rule (the admin's form checks them) ---------------------------------
def rule_problems(*, rule: AlertRule) -> dict[str, str]:
    problems: dict[str, str] = {}
    if not rule.email_to.strip() and not rule.webhook_url.strip():
        problems["email_to"] = "Give an email address or a webhook URL (or both)."
    bad = validate_addresses(rule.email_to)
    if bad:
        problems["email_to"] = bad
    if rule.webhook_url:
        bad = transport.url_problem(rule.webhook_url,
                                    allow_private=settings.CALLBACK_ALLOW_PRIVATE)
        if bad:
            problems["webhook_url"] = bad
    if rule.kind == K.QUEUE_BACKED_UP and rule.max_depth is None \
            and rule.max_age_seconds is None:
        problems["max_depth"] = "A backed-up queue needs a depth or an age (or both)."
    if rule.kind != K.QUEUE_BACKED_UP and (rule.max_depth is not None
                                           or rule.max_age_seconds is not None):
        problems["max_depth"] = "Thresholds apply to backed-up queues only."
    if rule.task_type_id is not None and rule.kind not in TYPED_KINDS:
        problems["task_type"] = "This kind of alert is not about a task type."
    return problems


# --- firing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Firing:
    """What a condition found: the subject it is about, and what to say."""

    subject: str
    summary: str
    details: dict[str, Any]


def alert_fire(*, rule: AlertRule, firing: Firing, now: datetime | None = None) -> Alert | None:
    """Send an alert for this incident (rule + subject) unless one was sent within the rule's
    quiet period; None when it stays quiet. Safe against itself running at once elsewhere:
    the incident's row is claimed with one conditional UPDATE."""
    now = now or timezone.now()
    with transaction.atomic():
        AlertIncident.objects.bulk_create(
            [AlertIncident(rule=rule, subject=firing.subject, first_fired_at=now)],
            ignore_conflicts=True)
        quiet_since = now - timedelta(seconds=rule.quiet_period_seconds)
        claimed = AlertIncident.objects.filter(
            Q(last_sent_at__isnull=True) | Q(last_sent_at__lte=quiet_since),
            rule=rule, subject=firing.subject,
        ).update(last_sent_at=now, alerts_sent=F("alerts_sent") + 1)
        if not claimed:
            return None
        alert = Alert.objects.create(
            rule=rule, rule_name=rule.name, kind=rule.kind, subject=firing.subject,
            summary=firing.summary[:500], details=firing.details, created_at=now,
            email_to=rule.email_to,
            email_status=ChannelStatus.PENDING if rule.email_recipients else ChannelStatus.NONE,
            webhook_url=rule.webhook_url,
            webhook_status=ChannelStatus.PENDING if rule.webhook_url else ChannelStatus.NONE,
        )
        transaction.on_commit(lambda: _send(alert.pk))
    return alert


def _send(alert_id: int) -> None:
    from .tasks import deliver_alert  # the Celery task calls back into this module

    send_task(deliver_alert, alert_id)


def _active_rules(kind: str) -> list[AlertRule]:
    return list(AlertRule.objects.filter(kind=kind, is_active=True).select_related("task_type"))


def _about_type(rule: AlertRule, key: str) -> bool:
    return rule.task_type is None or rule.task_type.key == key


# --- events (after the domain's commit) --------------------------------------------------------
def alerts_on_task_failed(*, task_id: str, task_type_key: str) -> list[Alert]:
    """A task ended failed: one incident per rule and task type."""
    rules = [r for r in _active_rules(K.TASK_FAILED) if _about_type(r, task_type_key)]
    if not rules:
        return []
    task = Task.objects.filter(pk=task_id).values("title", "error", "attempts").first() or {}
    firing = Firing(
        subject=f"task_type:{task_type_key}",
        summary=f"Task {task.get('title', task_id)!r} ({task_type_key}) failed: "
                f"{task.get('error') or 'no error given'}",
        details={"task_id": task_id, "task_type": task_type_key, **task},
    )
    return _fire_each(rules, firing)


def alerts_on_unit_offline(*, unit_id: str, reason: str = "") -> list[Alert]:
    rules = _active_rules(K.UNIT_OFFLINE)
    if not rules:
        return []
    unit_type = ExecutionUnit.objects.filter(unit_id=unit_id).values_list(
        "unit_type", flat=True).first() or ""
    firing = Firing(subject=f"unit:{unit_id}",
                    summary=f"Unit {unit_id} ({unit_type}) went offline"
                            + (f": {reason}" if reason else ""),
                    details={"unit": unit_id, "unit_type": unit_type, "reason": reason})
    return _fire_each([r for r in rules if _about_type(r, unit_type)], firing)


def _fire_each(rules: Iterable[AlertRule], firing: Firing) -> list[Alert]:
    fired = (alert_fire(rule=rule, firing=firing) for rule in rules)
    return [alert for alert in fired if alert is not None]


# --- the sweep: thresholds ---------------------------------------------------------------------
def alerts_sweep(*, now: datetime | None = None) -> int:
    """Check every threshold rule; deliver alerts whose message was lost. Alerts sent."""
    now = now or timezone.now()
    sent = 0
    for rule in AlertRule.objects.filter(is_active=True, kind__in=[
            K.SLA_BREACH, K.QUEUE_BACKED_UP, K.APPROVAL_OVERDUE]).select_related("task_type"):
        check = {K.SLA_BREACH: _sla_breaches, K.QUEUE_BACKED_UP: _backed_up_queues,
                 K.APPROVAL_OVERDUE: _overdue_approvals}[rule.kind]
        for firing in check(rule, now):
            sent += alert_fire(rule=rule, firing=firing, now=now) is not None
    _redrive(now)
    return sent


def _sla_breaches(rule: AlertRule, now: datetime) -> list[Firing]:
    # Open work past its deadline, by type: a range of task_open_due_idx.
    overdue = Task.objects.order_by().filter(
        due_at__isnull=False, status__in=sorted(OPEN_STATES), due_at__lt=now)
    if rule.task_type is not None:
        overdue = overdue.filter(task_type=rule.task_type)
    rows = overdue.values("task_type_id").annotate(n=Count("pk"), oldest_due=Min("due_at"))
    keys = dict(TaskType.objects.values_list("pk", "key"))
    return [Firing(
        subject=f"sla:{keys[r['task_type_id']]}",
        summary=f"{r['n']} open {keys[r['task_type_id']]} task(s) past their due time, "
                f"the earliest due {r['oldest_due']:%Y-%m-%d %H:%M} UTC",
        details={"task_type": keys[r["task_type_id"]], "overdue": r["n"],
                 "oldest_due_at": r["oldest_due"].isoformat()},
    ) for r in rows]


def _backed_up_queues(rule: AlertRule, now: datetime) -> list[Firing]:
    per_type: dict[str, dict] = {}
    for row in queue_depths(now=now):
        entry = per_type.setdefault(row.task_type, {"depth": 0, "oldest_age_seconds": 0.0,
                                                    "queue": row.queue})
        entry["depth"] += row.depth
        entry["oldest_age_seconds"] = max(entry["oldest_age_seconds"],
                                          row.oldest_age_seconds or 0.0)
    firings = []
    for key, q in sorted(per_type.items()):
        if rule.task_type is not None and rule.task_type.key != key:
            continue
        too_deep = rule.max_depth is not None and q["depth"] > rule.max_depth
        too_old = rule.max_age_seconds is not None and q["oldest_age_seconds"] > \
            rule.max_age_seconds
        if too_deep or too_old:
            firings.append(Firing(
                subject=f"queue:{key}",
                summary=f"Queue of {key} backed up: {q['depth']} queued, the oldest for "
                        f"{int(q['oldest_age_seconds'])} s",
                details={"task_type": key, **q}))
    return firings


def _overdue_approvals(rule: AlertRule, now: datetime) -> list[Firing]:
    rows = (ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING, due_at__lt=now)
            .order_by("due_at").values("pk", "kind", "task_id", "due_at")[:SWEEP_BATCH])
    return [Firing(
        subject=f"approval:{r['pk']}",
        summary=f"Approval request {r['pk']} ({r['kind']}) overdue since "
                f"{r['due_at']:%Y-%m-%d %H:%M} UTC",
        details={"approval_request": r["pk"], "kind": r["kind"], "task_id": str(r["task_id"]),
                 "due_at": r["due_at"].isoformat()},
    ) for r in rows]


def _redrive(now: datetime) -> None:
    stale = Alert.objects.filter(
        Q(email_status=ChannelStatus.PENDING) | Q(webhook_status=ChannelStatus.PENDING),
        created_at__lt=now - REDRIVE_AFTER).values_list("pk", flat=True)[:SWEEP_BATCH]
    for pk in stale:
        alert_deliver(alert_id=pk)


# --- delivery (a Celery task, outside any transaction) -----------------------------------------
def alert_deliver(*, alert_id: int) -> Alert | None:
    """Send the alert's pending channels once each: each is claimed (pending → sending) by a
    conditional UPDATE, so a message delivered twice sends nothing twice."""
    if _claim(alert_id, "email_status"):
        _deliver_email(Alert.objects.get(pk=alert_id))
    if _claim(alert_id, "webhook_status"):
        _deliver_webhook(Alert.objects.select_related("rule").get(pk=alert_id))
    return Alert.objects.filter(pk=alert_id).first()


def _claim(alert_id: int, field: str) -> bool:
    return bool(Alert.objects.filter(pk=alert_id, **{field: ChannelStatus.PENDING}).update(
        **{field: ChannelStatus.SENDING}))


def _deliver_email(alert: Alert) -> None:
    status, error = ChannelStatus.SENT, ""
    try:
        send_mail(subject=f"[TaskManage] {alert.summary}"[:200], message=_email_text(alert),
                  from_email=None, recipient_list=_recipients(alert))
    except Exception as exc:  # SMTP refused, unreachable…: recorded on the alert
        status, error = ChannelStatus.FAILED, f"{type(exc).__name__}: {exc}"[:500]
    Alert.objects.filter(pk=alert.pk).update(email_status=status, email_error=error)


def _recipients(alert: Alert) -> list[str]:
    return split_addresses(alert.email_to)


def _email_text(alert: Alert) -> str:
    lines = [alert.summary, "", f"Rule: {alert.rule_name} ({alert.get_kind_display()})",
             f"Subject: {alert.subject}", f"At: {alert.created_at:%Y-%m-%d %H:%M:%S} UTC", ""]
    lines += [f"{key}: {value}" for key, value in alert.details.items()]
    return "\n".join(lines)


def alert_body(*, alert: Alert) -> bytes:
    return json.dumps({
        "id": alert.pk, "rule": alert.rule_name, "kind": alert.kind, "subject": alert.subject,
        "summary": alert.summary, "details": alert.details, "created_at": alert.created_at,
    }, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def _deliver_webhook(alert: Alert) -> None:
    if alert.rule is None:  # the rule, and with it the secret, is gone
        Alert.objects.filter(pk=alert.pk).update(
            webhook_status=ChannelStatus.FAILED, webhook_error="the rule was deleted")
        return
    body = alert_body(alert=alert)
    timestamp = int(timezone.now().timestamp())
    outcome = transport.post(alert.webhook_url, body, {
        "Content-Type": "application/json",
        "User-Agent": "TaskManage-Alerts/1",
        "X-TaskManage-Alert": str(alert.pk),
        "X-TaskManage-Timestamp": str(timestamp),
        "X-TaskManage-Signature": transport.sign(alert.rule.webhook_secret, timestamp, body),
    }, timeout=settings.CALLBACK_TIMEOUT_SECONDS, allow_private=settings.CALLBACK_ALLOW_PRIVATE)
    Alert.objects.filter(pk=alert.pk).update(
        webhook_status=ChannelStatus.SENT if outcome.delivered else ChannelStatus.FAILED,
        webhook_status_code=outcome.status_code, webhook_error=outcome.error)
