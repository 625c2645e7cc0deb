"""Celery's work is split on three queues, so failover and the clock never wait behind bulk."""

from __future__ import annotations

from django.conf import settings

from taskmanage.celery import app


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_failover_the_clock_and_dispatch_go_to_the_critical_queue():
    for name in ("apps.execution.tasks.sweep_units", "apps.tasks.tasks.promote_due_tasks",
                 "apps.tasks.tasks.dispatch_tasks"):
        assert queue_of(name) == "critical", name


def test_housekeeping_goes_to_the_low_queue_and_the_rest_to_default():
    assert queue_of("apps.execution.tasks.reconcile_unit_held") == "low"
    assert queue_of("apps.approvals.tasks.escalate_overdue_approvals") == "default"
    assert queue_of("some.task.nobody.routed") == "default"


def test_every_periodic_task_has_a_queue_of_its_own_choosing():
    periodic = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert periodic <= set(settings.CELERY_TASK_ROUTES)


def test_workers_take_the_queues_in_priority_order():
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["queue_order_strategy"] == "priority"
