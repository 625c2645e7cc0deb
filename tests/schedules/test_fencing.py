"""The fence: raised only, checked in each spawn's transaction; a leader's batch of firings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.schedules import fencing, services
from apps.schedules.leader import LeaderScheduler, Lease
from apps.schedules.models import LeaderFence, Schedule, Spawn
from apps.schedules.tasks import fire_many
from apps.tasks.models import Task
from taskmanage.celery import app
from tests.concurrency import race

from .conftest import make_schedule

pytestmark = pytest.mark.django_db
SLOT = datetime(2026, 12, 1, 9, tzinfo=UTC)


def refused() -> int:
    return LeaderFence.objects.get(pk=1).refused


def test_the_fence_is_raised_only():
    assert fencing.fence_raise(token=5, holder="a") is True
    assert fencing.fence_raise(token=3, holder="b") is False
    assert fencing.fence_raise(token=5, holder="b") is False
    assert fencing.fence_raise(token=6, holder="c") is True
    assert fencing.fence_current() == 6
    assert LeaderFence.objects.get(pk=1).holder == "c"


def test_a_firing_below_the_fence_spawns_nothing_and_is_counted(report_type):
    schedule = make_schedule(report_type, cron="0 9 * * *")
    fencing.fence_raise(token=7, holder="new leader")

    assert services.schedule_fire(schedule_id=schedule.pk, now=SLOT, token=6) is None
    assert not Spawn.objects.exists() and refused() == 1

    spawn = services.schedule_fire(schedule_id=schedule.pk, now=SLOT, token=7)
    assert spawn.token == 7 and spawn.task_id is not None


def test_a_batch_spawns_each_planned_time_once_with_its_leaders_token(report_type):
    hourly = make_schedule(report_type, name="hourly", cron="0 * * * *")
    daily = make_schedule(report_type, name="daily", cron="0 9 * * *", overlap="skip")
    fencing.fence_raise(token=3, holder="leader")
    firings = [(hourly.pk, SLOT), (hourly.pk, SLOT + timedelta(hours=1)), (daily.pk, SLOT)]

    first = services.schedules_fire_many(token=3, firings=firings, now=SLOT)
    again = services.schedules_fire_many(token=3, firings=firings, now=SLOT)

    assert (first.spawned, first.already) == (3, 0)
    assert (again.spawned, again.already) == (0, 3)
    spawns = Spawn.objects.order_by("planned_time", "schedule__name")
    assert [(s.schedule_id, s.planned_time, s.token) for s in spawns] == [
        (daily.pk, SLOT, 3), (hourly.pk, SLOT, 3), (hourly.pk, SLOT + timedelta(hours=1), 3)]
    titles = set(Task.objects.filter(pk__in=[s.task_id for s in spawns])
                 .values_list("title", flat=True))
    assert titles == {"Report 2026-12-01 09:00", "Report 2026-12-01 10:00"}
    assert all(t.status == "queued" for t in Task.objects.all())


def test_a_batch_below_the_fence_is_refused_whole_and_counted(report_type):
    schedule = make_schedule(report_type, cron="0 * * * *")
    fencing.fence_raise(token=9, holder="new leader")

    outcome = services.schedules_fire_many(
        token=8, firings=[(schedule.pk, SLOT), (schedule.pk, SLOT + timedelta(hours=1))],
        now=SLOT)

    assert outcome.refused == 2 and outcome.spawned == 0
    assert not Spawn.objects.exists() and not Task.objects.exists()
    assert refused() == 2


def test_a_batch_drops_disabled_deleted_and_misfired_schedules(report_type):
    disabled = make_schedule(report_type, name="off", cron="0 9 * * *", enabled=False)
    late = make_schedule(report_type, name="late", cron="0 9 * * *", misfire="skip")
    fencing.fence_raise(token=1, holder="leader")

    outcome = services.schedules_fire_many(
        token=1, firings=[(disabled.pk, SLOT), (late.pk, SLOT), (999999, SLOT)],
        now=SLOT + timedelta(hours=1))

    assert outcome.dropped == 3 and not Spawn.objects.exists()


def test_the_celery_task_reads_the_leaders_message(report_type):
    schedule = make_schedule(report_type, cron="* * * * *")
    fencing.fence_raise(token=2, holder="leader")
    minute = timezone.now().replace(second=0, microsecond=0)

    result = fire_many.run(token=2, firings=[[schedule.pk, minute.isoformat()]])

    assert result["spawned"] == 1
    assert Spawn.objects.get().planned_time == minute


def test_a_leader_whose_redis_lost_the_counter_lifts_its_token_above_the_fence(settings_key):
    # Redis restarted empty: the next acquisition's INCR gives 1, the fence says 40.
    fencing.fence_raise(token=40, holder="before the restart")
    scheduler = LeaderScheduler(app=app, lazy=True)
    scheduler.elector.step()
    assert scheduler.elector.token() == 1

    assert scheduler._take_over(1) is True

    assert fencing.fence_current() == 41 and scheduler.elector.token() == 41


def every_two_seconds_since(report_type, anchor):
    schedule = make_schedule(report_type, name="every 2 s", interval_seconds=2)
    Schedule.objects.filter(pk=schedule.pk).update(anchor=anchor)
    return schedule


def test_a_standby_keeps_its_plan_warm_and_its_takeover_dispatches_from_it(
        settings_key, report_type, caplog):
    now = timezone.now()
    every_two_seconds_since(report_type, now - timedelta(minutes=5))
    fencing.fence_raise(token=3, holder="the leader")
    fencing.fence_mark_dispatched(token=3, until=now)
    standby = LeaderScheduler(app=app, lazy=True)

    standby._keep_plan_warm()

    replay = timedelta(seconds=settings.SCHEDULES_LEADER_REPLAY_SECONDS)
    assert len(standby.plan) == 1 and standby.plan.covers(now - replay)
    with caplog.at_level("WARNING", logger="apps.schedules.leader"):
        assert standby._take_over(4) is True
    assert "1 schedules kept warm" in caplog.text
    # The replay window and what fell due since: every 2 s, nothing left out.
    planned = [p for _, p in standby.plan.take_due(now=timezone.now())]
    assert len(planned) >= replay.total_seconds() // 2 and planned == sorted(planned)


def test_a_standby_after_an_outage_leaves_the_catch_up_to_the_takeover(
        settings_key, report_type, caplog):
    now = timezone.now()
    every_two_seconds_since(report_type, now - timedelta(hours=2))
    fencing.fence_raise(token=3, holder="the leader an hour ago")
    fencing.fence_mark_dispatched(token=3, until=now - timedelta(hours=1))
    standby = LeaderScheduler(app=app, lazy=True)

    standby._keep_plan_warm()

    # An hour of a 2 s schedule is 1,800 planned times: none is planned on a standby.
    assert len(standby.plan) == 0 and not standby.plan.covers(now - timedelta(hours=1))
    with caplog.at_level("WARNING", logger="apps.schedules.leader"):
        assert standby._take_over(4) is True
    assert "1 schedules planned" in caplog.text
    assert len(standby.plan.take_due(now=timezone.now())) == 1  # one catch-up run


@pytest.fixture
def settings_key(settings):
    settings.SCHEDULES_LEADER_KEY = f"tm:test:fence:{uuid.uuid4().hex}"
    yield settings.SCHEDULES_LEADER_KEY
    client = redis.Redis.from_url(settings.SCHEDULES_LEADER_REDIS_URL)
    client.delete(settings.SCHEDULES_LEADER_KEY, f"{settings.SCHEDULES_LEADER_KEY}:token")
    client.close()


def test_a_scheduler_without_redis_stands_by_and_never_raises(settings):
    settings.SCHEDULES_LEADER_REDIS_URL = "redis://127.0.0.1:1/0"
    scheduler = LeaderScheduler(app=app, lazy=True)
    scheduler.elector.step()

    assert scheduler.tick() <= 0.5
    assert scheduler._leading is None
    scheduler.elector.stop()


def test_a_lease_from_settings_names_its_key():
    lease = Lease(client=redis.Redis.from_url(settings.SCHEDULES_LEADER_REDIS_URL),
                  key="k", ttl_seconds=1.2)
    assert lease.ttl_ms == 1200 and lease.token_key == "k:token"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrency: PostgreSQL")
def test_two_leaders_racing_the_same_planned_times_spawn_them_once(report_type):
    schedules = [make_schedule(report_type, name=f"s{i}", cron="0 * * * *") for i in range(5)]
    fencing.fence_raise(token=4, holder="leader")
    firings = [(s.pk, SLOT) for s in schedules]

    outcomes = race(4, lambda i: services.schedules_fire_many(token=4, firings=firings,
                                                              now=SLOT))

    assert not [o for o in outcomes if isinstance(o, Exception)]
    assert sum(o.spawned for o in outcomes) == 5
    assert Spawn.objects.count() == 5 and Task.objects.count() == 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrency: PostgreSQL")
def test_a_stale_batch_racing_the_raise_either_lands_before_it_or_is_refused(report_type):
    schedules = [make_schedule(report_type, name=f"r{i}", cron="0 * * * *") for i in range(20)]
    fencing.fence_raise(token=1, holder="old")

    def work(i):
        if i == 0:
            return fencing.fence_raise(token=2, holder="new")
        return services.schedules_fire_many(token=1, firings=[(s.pk, SLOT) for s in schedules],
                                            now=SLOT)

    outcomes = race(3, work)

    assert not [o for o in outcomes if isinstance(o, Exception)]
    # Whatever the old leader wrote, it wrote before the raise committed: the share lock on
    # the fence orders them. Nothing is half written.
    spawned = sum(o.spawned for o in outcomes[1:])
    assert Spawn.objects.filter(token=1).count() == spawned
    assert spawned in (0, 20) and Task.objects.count() == spawned


def test_the_leader_state_is_exported_for_prometheus():
    from apps.schedules.metrics import read_snapshot

    assert read_snapshot() == {}  # no leader yet: nothing to say
    fencing.fence_raise(token=3, holder="leader")
    until = timezone.now() - timedelta(seconds=5)
    fencing.fence_mark_dispatched(token=3, until=until)
    LeaderFence.objects.update(refused=2)

    samples = {name: rows[0][1] for name, rows in read_snapshot().items()}

    assert samples == {"taskmanage_schedules_leader_token": 3,
                       "taskmanage_schedules_fence_refused_total": 2,
                       "taskmanage_schedules_leader_dispatched_at_seconds": until.timestamp()}


# Transactional: the stock scheduler closes the connection between reads (close_old_connections),
# which a test's enclosing transaction would not survive.
@pytest.mark.django_db(transaction=True)
def test_the_sweeps_stay_with_the_stock_machinery_and_the_schedules_leave_it(report_type,
                                                                               settings_key):
    schedule = make_schedule(report_type, cron="0 9 * * *")
    scheduler = LeaderScheduler(app=app)  # not lazy: installs the sweeps of the settings

    names = {model.name for model in scheduler.enabled_models()}

    assert set(settings.CELERY_BEAT_SCHEDULE) <= names
    assert f"schedule:{schedule.pk}" not in names  # the leader's plan fires it
