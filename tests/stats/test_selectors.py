"""The figures against hand-built data, checked exactly: counts, throughput, rates, mean and
p95 durations, SLA breaches, queues, units, staff rates and the Gini coefficient."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.actors import Actor
from apps.execution import services as unit_services
from apps.staff.models import Staff
from apps.stats import selectors
from apps.stats.selectors import gini, percentile_cont
from apps.tasks.models import Task
from apps.tasks.states import Priority
from tests.builders import make_task_type, require, task_in_state

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def ended(task, *, ran_seconds: float, ago: timedelta, due_in: timedelta | None = None):
    """Pretend `task` ended `ago` before NOW after running `ran_seconds` (and was due
    `due_in` from when it ended: negative is late)."""
    finished = NOW - ago
    Task.objects.filter(pk=task.pk).update(
        finished_at=finished, started_at=finished - timedelta(seconds=ran_seconds),
        due_at=None if due_in is None else finished + due_in)
    return task


def test_gini_and_percentile_by_hand():
    assert gini(values=[]) == 0.0
    assert gini(values=[0, 0, 0]) == 0.0
    assert gini(values=[2, 2, 2]) == 0.0
    assert gini(values=[0, 0, 3]) == pytest.approx(2 / 3)  # |0-3| twice each way: 12 / (2·9·1)
    assert gini(values=[0, 0, 0, 4]) == pytest.approx(0.75)
    assert gini(values=[1, 2, 3, 4]) == pytest.approx(0.25)  # Σ|xi-xj| = 20, 20 / (2·16·2.5)
    assert percentile_cont(values=[10, 20, 30, 40, 100], fraction=0.95) == pytest.approx(88.0)
    assert percentile_cont(values=[7], fraction=0.95) == 7


def test_overview_throughput_rates_durations_and_sla(alice):
    kind = make_task_type(max_retries=0)
    durations = [10, 20, 30, 40, 100]
    for i, seconds in enumerate(durations):
        # two within the hour, three earlier in the day
        ago = timedelta(minutes=10 + i) if i < 2 else timedelta(hours=2 + i)
        ended(task_in_state("completed", creator=alice, task_type=kind),
              ran_seconds=seconds, ago=ago, due_in=timedelta(minutes=-1) if i == 4 else None)
    ended(task_in_state("completed", creator=alice, task_type=kind),  # yesterday: outside
          ran_seconds=1000, ago=timedelta(hours=30))
    ended(task_in_state("failed", creator=alice, task_type=kind), ran_seconds=5,
          ago=timedelta(minutes=5))
    ended(task_in_state("failed", creator=alice, task_type=kind), ran_seconds=5,
          ago=timedelta(hours=5))
    task_in_state("cancelled", creator=alice, task_type=kind)  # a decision: in no rate
    overdue = task_in_state("queued", creator=alice, task_type=kind)
    Task.objects.filter(pk=overdue.pk).update(due_at=NOW - timedelta(minutes=1))
    not_yet = task_in_state("queued", creator=alice, task_type=kind)
    Task.objects.filter(pk=not_yet.pk).update(due_at=NOW + timedelta(hours=1))

    o = selectors.overview(now=NOW)

    assert (o.last_hour.completed, o.last_hour.failed) == (2, 1)
    assert (o.last_day.completed, o.last_day.failed) == (5, 2)
    assert o.completion_rate == pytest.approx(5 / 7)
    assert o.durations.sample == 5
    assert o.durations.mean_seconds == pytest.approx(40.0)
    assert o.durations.p95_seconds == pytest.approx(88.0)
    assert (o.sla.overdue_open, o.sla.completed_late) == (1, 1)
    assert o.counts.counts["completed"] == 6
    assert o.counts.counts["failed"] == 2
    assert o.counts.counts["cancelled"] == 1
    assert o.counts.counts["queued"] == 2
    assert o.counts.open == 2
    assert set(o.counts.counts) == {s.value for s in selectors.S}


def test_an_empty_system_has_no_rates_rather_than_zeros():
    o = selectors.overview(now=NOW)
    assert o.completion_rate is None
    assert (o.durations.sample, o.durations.mean_seconds, o.durations.p95_seconds) == (
        0, None, None)
    assert o.counts.open == 0


def test_ended_counts_come_from_the_snapshot_until_it_is_refreshed(alice):
    kind = make_task_type(max_retries=0)
    task_in_state("completed", creator=alice, task_type=kind)
    assert selectors.status_counts().counts["completed"] == 1  # first read counts
    task_in_state("completed", creator=alice, task_type=kind)
    task_in_state("queued", creator=alice, task_type=kind)
    counts = selectors.status_counts().counts
    assert (counts["completed"], counts["queued"]) == (1, 1)  # open states are live
    selectors.refresh_ended_counts()
    assert selectors.status_counts().counts["completed"] == 2


def test_queue_depth_and_oldest_age_per_type_and_priority(alice):
    billing = make_task_type("billing", queue="critical")
    mail = make_task_type("mail")
    ages = {("billing", "high"): [300, 60], ("billing", "low"): [30],
            ("mail", "normal"): [900, 600, 5]}
    for (key, priority), seconds in ages.items():
        for s in seconds:
            t = task_in_state("queued", creator=alice, priority=Priority.from_name(priority),
                              task_type=billing if key == "billing" else mail)
            Task.objects.filter(pk=t.pk).update(queued_at=NOW - timedelta(seconds=s))
    task_in_state("running", creator=alice, task_type=mail)  # not queued: not counted

    rows = selectors.queue_depths(now=NOW)

    assert [(r.task_type, r.queue, r.priority, r.depth, r.oldest_age_seconds) for r in rows] == [
        ("billing", "critical", "high", 2, 300.0),
        ("mail", "default", "normal", 3, 900.0),
        ("billing", "critical", "low", 1, 30.0),
    ]
    totals = selectors.queue_totals(rows=rows)
    assert [(t.queue, t.priority, t.depth, t.oldest_age_seconds) for t in totals] == [
        ("critical", "high", 2, 300.0), ("critical", "low", 1, 30.0),
        ("default", "normal", 3, 900.0)]


def test_units_by_type_with_capacity_and_load():
    by = Actor.system("tests")
    for uid, utype, cap in [("a1", "docs", 2), ("a2", "docs", 3), ("b1", "ocr", 4)]:
        unit_services.unit_register(unit_id=uid, by=by, may_rotate=True, unit_type=utype,
                                    capacity=cap)
    a2 = unit_services.unit_register(unit_id="a2", by=by, may_rotate=True, unit_type="docs",
                                     capacity=3).unit
    unit_services.unit_drain(unit=a2, by=by)

    rows = {r.unit_type: r for r in selectors.unit_stats()}

    assert (rows["docs"].online, rows["docs"].draining, rows["docs"].offline) == (1, 1, 0)
    assert (rows["docs"].capacity, rows["docs"].held, rows["docs"].load) == (5, 0, 0.0)
    assert (rows["ocr"].online, rows["ocr"].capacity) == (1, 4)


def test_staff_rates_skill_match_and_gini(alice, rita, bob):
    pythonic = make_task_type(max_retries=0)
    require(pythonic, {"python": 4})  # alice has python 4; rita 2
    plain = make_task_type(max_retries=0)
    # alice: 3 completed (2 of them with a due date: one on time, one late), 1 failed
    for due_in in (timedelta(minutes=5), timedelta(minutes=-5), None):
        ended(task_in_state("completed", creator=alice, assignee=alice, task_type=pythonic),
              ran_seconds=60, ago=timedelta(hours=1), due_in=due_in)
    ended(task_in_state("failed", creator=alice, assignee=alice, task_type=plain),
          ran_seconds=60, ago=timedelta(hours=1))
    # rita did python work she is not qualified for, and holds one task now (load 1)
    ended(task_in_state("completed", creator=rita, assignee=rita, task_type=pythonic),
          ran_seconds=60, ago=timedelta(hours=2))
    task_in_state("running", creator=rita, assignee=rita, task_type=plain)
    # two days ago: outside a 24 h window
    ended(task_in_state("completed", creator=bob, assignee=bob, task_type=plain),
          ran_seconds=60, ago=timedelta(hours=48))

    result = selectors.staff_stats(people=Staff.objects.all(), since=NOW - timedelta(hours=24),
                                   now=NOW)

    people = {p.username: p for p in result.staff}
    a, r, b = people["alice"], people["rita"], people["bob"]
    assert (a.completed, a.failed, a.completion_rate) == (3, 1, 0.75)
    assert a.on_time_rate == pytest.approx(0.5)
    assert a.skill_match_rate == 1.0  # python 4 ≥ 4, and the plain type asks nothing
    assert (r.completed, r.failed, r.skill_match_rate, r.on_time_rate) == (1, 0, 0.0, None)
    assert (r.load, r.capacity, r.utilisation) == (1, 3, pytest.approx(1 / 3))
    assert (r.open_tasks, r.free_capacity, a.open_tasks, a.team) == (1, 2, 0, "platform")
    assert (b.completed, b.completion_rate) == (0, None)
    assert result.skill_match_rate == pytest.approx(4 / 5)
    assert result.load_gini == pytest.approx(gini(values=[0, 1, 0]))
    assert result.load_gini == pytest.approx(2 / 3)


def test_staff_outcomes_are_tallied_in_the_database_one_row_per_person(alice, rita, bob,
                                                                        platform):
    """The ended work is grouped by holder alone in SQL (not by person, type and status for
    Python to add up), and skill match is one of its aggregates: a person short of any one of
    a type's skills (or of its level) did unmatched work."""
    both = require(make_task_type(max_retries=0), {"python": 3, "sql": 3})  # alice only
    sql_only = require(make_task_type(max_retries=0), {"sql": 4})  # bob only; alice has 3
    for who, kind, status in ((alice, both, "completed"), (alice, sql_only, "completed"),
                              (rita, both, "failed"), (bob, sql_only, "completed"),
                              (bob, both, "completed")):
        ended(task_in_state(status, creator=who, assignee=who, task_type=kind),
              ran_seconds=30, ago=timedelta(hours=3))
    platform_people = Staff.objects.filter(team=platform)

    with CaptureQueriesContext(connection) as queries:
        result = selectors.staff_stats(people=platform_people, since=NOW - timedelta(hours=24),
                                       now=NOW)

    people = {p.username: p for p in result.staff}
    assert set(people) == {"alice", "rita"}  # bob is not in the team asked for
    assert (people["alice"].completed, people["alice"].skill_match_rate) == (2, 0.5)
    assert (people["rita"].failed, people["rita"].skill_match_rate) == (1, 0.0)
    assert result.skill_match_rate == pytest.approx(1 / 3)
    ended_work = [q["sql"] for q in queries.captured_queries if "finished_at" in q["sql"]]
    assert len(ended_work) == 1 and len(queries.captured_queries) <= 5
    assert "," not in ended_work[0].rsplit("GROUP BY", 1)[1]  # one key: the holder
