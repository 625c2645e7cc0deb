"""The leader's plan: every due planned time in one pass; edits apply on the next tick."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.actors import Actor
from apps.schedules import services
from apps.schedules.leader import FiringPlan
from apps.schedules.models import Schedule

from .conftest import make_schedule

pytestmark = pytest.mark.django_db
BY = Actor.system("tests")


def interval_schedule(task_type, name, seconds, anchor):
    schedule = make_schedule(task_type, name=name, interval_seconds=seconds)
    Schedule.objects.filter(pk=schedule.pk).update(anchor=anchor)
    return Schedule.objects.get(pk=schedule.pk)


@pytest.fixture
def t0():
    return timezone.now().replace(microsecond=0)


def test_one_pass_takes_every_due_planned_time_and_plans_the_next(report_type, t0):
    schedules = [interval_schedule(report_type, f"s{i}", 60, t0 + timedelta(seconds=i))
                 for i in range(50)]
    plan = FiringPlan()
    plan.load(replay_from=t0, now=t0, catch_up_all=True)

    due = plan.take_due(now=t0 + timedelta(seconds=60 + 49))

    assert sorted(due) == sorted((s.pk, s.anchor + timedelta(seconds=60)) for s in schedules)
    assert plan.take_due(now=t0 + timedelta(seconds=115)) == []
    assert plan.seconds_to_next(now=t0 + timedelta(seconds=115)) == 5.0  # s0's second slot


def test_a_new_leader_replays_the_window_before_its_predecessors_last_dispatch(report_type, t0):
    schedule = interval_schedule(report_type, "every 2 s", 2, t0 - timedelta(seconds=60))
    plan = FiringPlan()

    plan.load(replay_from=t0 - timedelta(seconds=6), now=t0, catch_up_all=True)

    planned = [p for _, p in plan.take_due(now=t0)]
    assert planned == [t0 - timedelta(seconds=s) for s in (4, 2, 0)]
    assert plan.seconds_to_next(now=t0) == 2.0
    assert [p for _, p in plan.take_due(now=t0 + timedelta(seconds=2))] == [
        t0 + timedelta(seconds=2)]
    assert schedule.pk == plan.take_due(now=t0 + timedelta(seconds=4))[0][0]


def test_after_an_outage_each_schedule_catches_up_once(report_type, t0):
    interval_schedule(report_type, "every 2 s", 2, t0 - timedelta(hours=1))
    plan = FiringPlan()

    plan.load(replay_from=t0 - timedelta(minutes=30), now=t0, catch_up_all=False)

    assert [p for _, p in plan.take_due(now=t0)] == [t0]


def test_edits_enables_disables_and_deletes_apply_on_the_next_refresh(report_type, t0):
    kept = interval_schedule(report_type, "kept", 60, t0)
    edited = interval_schedule(report_type, "edited", 60, t0)
    disabled = interval_schedule(report_type, "disabled", 60, t0)
    deleted = interval_schedule(report_type, "deleted", 60, t0)
    plan = FiringPlan()
    plan.load(replay_from=t0, now=t0, catch_up_all=True)

    services.schedule_update(schedule_id=edited.pk, changes={"interval_seconds": 5}, by=BY)
    services.schedule_set_enabled(schedule_id=disabled.pk, enabled=False, by=BY)
    services.schedule_delete(schedule_id=deleted.pk, by=BY)
    added = make_schedule(report_type, name="added", interval_seconds=5)
    assert plan.refresh(now=timezone.now()) == 4
    assert plan.refresh(now=timezone.now()) == 0  # nothing new

    later = timezone.now() + timedelta(seconds=61)
    due = {schedule_id for schedule_id, _ in plan.take_due(now=later)}
    assert due == {kept.pk, edited.pk, added.pk}
    assert len(plan) == 3


def test_a_fixed_delay_schedule_is_polled_and_the_service_decides(report_type, t0):
    schedule = make_schedule(report_type, name="delay", delay_seconds=10)
    plan = FiringPlan()
    plan.load(replay_from=t0, now=t0, catch_up_all=True)

    assert plan.take_due(now=t0) == [(schedule.pk, None)]
    assert plan.seconds_to_next(now=t0) == 10.0


def test_a_one_moment_schedule_fires_once(report_type, t0):
    schedule = make_schedule(report_type, name="once", run_once_at=t0 + timedelta(seconds=30))
    plan = FiringPlan()
    plan.load(replay_from=t0, now=t0, catch_up_all=True)

    assert plan.take_due(now=t0 + timedelta(seconds=31)) == [(schedule.pk, schedule.run_once_at)]
    assert plan.take_due(now=t0 + timedelta(days=1)) == []


def test_a_standby_kept_warm_holds_what_a_takeover_would_load(report_type, t0):
    interval_schedule(report_type, "every 2 s", 2, t0 - timedelta(minutes=5))
    seven = interval_schedule(report_type, "every 7 s", 7, t0 - timedelta(minutes=5))
    interval_schedule(report_type, "every 11 s", 11, t0 - timedelta(minutes=5))
    make_schedule(report_type, name="delay", delay_seconds=10)
    make_schedule(report_type, name="once", run_once_at=t0 + timedelta(seconds=25))
    warm = FiringPlan()
    # Half a minute standing by, the leader's recorded dispatch (less the replay window) ten
    # seconds behind; an edit on the way.
    for second in range(31):
        if second == 15:
            services.schedule_set_enabled(schedule_id=seven.pk, enabled=False, by=BY)
        warm.keep_warm(floor=t0 + timedelta(seconds=second - 10),
                       now=t0 + timedelta(seconds=second))
    replay_from, takeover = t0 + timedelta(seconds=20), t0 + timedelta(seconds=32)
    fresh = FiringPlan()
    fresh.load(replay_from=replay_from, now=takeover, catch_up_all=True)

    assert warm.covers(replay_from) and not warm.covers(replay_from - timedelta(seconds=1))
    due = warm.take_due(now=takeover)
    assert len(due) == len(set(due)) == 6 + 1 + 1 + 1  # every 2 s, every 11 s, delay, once
    assert set(due) == set(fresh.take_due(now=takeover))
    assert not warm.covers(replay_from)  # handed out: a later standby spell loads afresh
