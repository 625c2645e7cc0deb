"""The dashboard's KPIs, charts and tables against hand-built data; who sees them; and its
queries, which do not grow with the rows behind them."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.actors import Actor
from apps.dashboard.pagination import encode_cursor
from apps.dashboard.selectors import forget_system_figures
from apps.dashboard.tasks import refresh_dashboard_figures
from apps.execution import services as unit_services
from apps.schedules.services import schedule_create
from apps.stats import selectors as stats
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus
from tests.builders import make_staff, make_task_type, task_in_state

from .conftest import signed_in

pytestmark = pytest.mark.django_db
S = TaskStatus


def counter(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{re.escape(name)}"[^>]*>([^<]*)<', html)
    assert found, f"no counter {name}"
    return found.group(1).strip()


def charts(html: str) -> dict:
    found = re.search(r'<script id="dashboard-charts" type="application/json">(.*?)</script>',
                      html, re.S)
    return json.loads(found.group(1)) if found else {}


def ended(status: str, *, creator, assignee, ran: timedelta, ago: timedelta, **spec) -> Task:
    """A task ended `ago`, after running for `ran` (the times set by hand: the life cycle
    stamps them with now)."""
    task = task_in_state(status, creator=creator, assignee=assignee, **spec)
    finished = timezone.now() - ago
    Task.objects.filter(pk=task.pk).update(started_at=finished - ran, finished_at=finished)
    return task


@pytest.fixture
def week(rita, alice):
    """Two queued (one overdue), one running, three completed (10, 20 and 30 minutes' work,
    one two hours ago), one failed three hours ago, and one completed two days ago."""
    kind = make_task_type("triage", max_retries=0)
    task_in_state(S.QUEUED, creator=rita, task_type=kind, title="Label tickets")
    late = task_in_state(S.QUEUED, creator=rita, task_type=kind, title="Answer the auditor")
    Task.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(hours=1))
    task_in_state(S.RUNNING, creator=rita, assignee=alice, task_type=kind)
    for minutes, ago in [(10, 5), (20, 6), (30, 120)]:
        ended(S.COMPLETED, creator=rita, assignee=alice, task_type=kind,
              ran=timedelta(minutes=minutes), ago=timedelta(minutes=ago))
    failure = ended(S.FAILED, creator=rita, assignee=alice, task_type=kind,
                    title="Rotate the keys", error="vault sealed",
                    ran=timedelta(minutes=1), ago=timedelta(hours=3))
    ended(S.COMPLETED, creator=rita, assignee=alice, task_type=kind,
          ran=timedelta(hours=1), ago=timedelta(days=2))
    return failure


def test_a_manager_sees_the_kpis_of_the_system(margaret, week):
    html = signed_in(margaret).get("/dashboard/").content.decode()

    assert [counter(html, n) for n in ("open", "queued", "running", "overdue",
                                       "failed_today")] == ["3", "2", "1", "1", "1"]
    assert counter(html, "completion_rate") == "75.0 %"  # 3 completed, 1 failed in 24 h
    assert counter(html, "mean_duration") == "20 min 0 s"
    assert counter(html, "p95_duration") == "29 min 0 s"  # between 20 and 30, as PostgreSQL
    assert 'href="/tasks/?status=running"' in html


def test_throughput_has_24_hourly_buckets_and_a_table_of_the_same_figures(margaret, week):
    html = signed_in(margaret).get("/dashboard/").content.decode()
    throughput = charts(html)["throughput"]

    # Each ended task in the bucket of the hour it ended in (the current hour last).
    starts = stats.hours_back(now=timezone.now(), hours=24)
    expected = {S.COMPLETED: [0] * 24, S.FAILED: [0] * 24}
    for status, finished in Task.objects.filter(finished_at__isnull=False).values_list(
            "status", "finished_at"):
        hour = finished.replace(minute=0, second=0, microsecond=0)
        if status in expected and hour in starts:
            expected[status][starts.index(hour)] += 1
    assert throughput["labels"] == [f"{h:%H}:00" for h in starts]
    assert throughput["series"] == {"Completed": expected[S.COMPLETED],
                                    "Failed": expected[S.FAILED]}
    assert sum(expected[S.COMPLETED]) == 3  # the one of two days ago is out
    assert expected[S.FAILED][-4] == 1  # three hours ago: four buckets back
    assert 'id="chart-throughput"' in html and "Throughput per hour as a table" in html


def test_the_status_chart_draws_the_samples_each_hour_left_and_gaps_where_none(margaret, week):
    now = timezone.now()
    stats.record_status_sample(counts=stats.StatusCounts(
        counts={S.QUEUED: 7, S.RUNNING: 4}, ended_as_of=now), now=now - timedelta(hours=5))

    status = charts(signed_in(margaret).get("/dashboard/").content.decode())["status"]

    queued = status["series"]["Queued"]
    assert queued[-6] == 7 and status["series"]["Running"][-6] == 4
    assert queued[-1] == 2  # the page's own count is this hour's sample
    assert queued[-2] is None  # nobody counted then


def test_recent_failures_newest_first_link_to_their_task(margaret, rita, alice, week):
    newer = ended(S.FAILED, creator=rita, assignee=alice, title="Send the invoices",
                  ran=timedelta(minutes=1), ago=timedelta(minutes=1))

    html = signed_in(margaret).get("/dashboard/").content.decode()

    section = html[html.index('id="fail-h"'):html.index('id="sched-h"')]
    assert section.index("Send the invoices") < section.index("Rotate the keys")
    assert f'href="/tasks/{newer.pk}/"' in section and "vault sealed" in section
    assert f'data-live-task="{week.pk}" data-status="failed"' in section


def test_upcoming_runs_of_enabled_schedules_soonest_first(margaret):
    kind = make_task_type("report")
    by = Actor.system("tests")
    for name, seconds, enabled in [("hourly", 3600, True), ("minutely", 60, True),
                                   ("paused", 30, False)]:
        schedule_create(fields={"name": name, "title": "Report", "task_type": kind,
                                "interval_seconds": seconds, "enabled": enabled}, by=by)

    html = signed_in(margaret).get("/dashboard/").content.decode()

    section = html[html.index('id="sched-h"'):]
    assert section.index("minutely") < section.index("hourly")
    assert "paused" not in section


def test_queues_and_units_with_their_load(margaret, rita):
    task_in_state(S.QUEUED, creator=rita, task_type=make_task_type("billing"))
    unit_services.unit_register(unit_id="ocr-1", by=Actor.system("tests"), may_rotate=True,
                                unit_type="ocr", capacity=4)

    html = signed_in(margaret).get("/dashboard/").content.decode()

    assert 'task_type=billing">billing</a>' in html
    assert charts(html)["units"] == {"labels": ["ocr"],
                                     "series": {"Held": [0], "Capacity": [4]}}


def test_staff_load_covers_the_people_the_stats_api_shows_each_manager(margaret, sam, alice,
                                                                       rita, bob):
    task_in_state(S.RUNNING, creator=rita, assignee=alice)
    assert signed_in(sam).get("/api/v1/stats/staff").json()["staff"][0]["username"] == "bob"

    everyone = charts(signed_in(margaret).get("/dashboard/").content.decode())["staff"]
    bobs_manager = signed_in(sam).get("/dashboard/").content.decode()

    assert sum(everyone["series"]["People"]) == 3
    assert dict(zip(everyone["labels"], everyone["series"]["People"], strict=True)) == {
        "idle": 2, "under half": 1, "half to 80 %": 0, "80 % to full": 0, "full": 0}
    assert sum(charts(bobs_manager)["staff"]["series"]["People"]) == 1
    assert "1 people you may see" in bobs_manager


def test_a_staff_member_sees_only_their_own_work(alice, rita, week):
    response = signed_in(alice).get("/dashboard/")
    html = response.content.decode()

    assert response.status_code == 200
    assert counter(html, "mine") == "1"  # the running task alice holds
    assert "Key figures" not in html and "<canvas" not in html
    assert "dashboard-charts" not in html and "Recent failures" not in html
    assert "Rotate the keys" not in html and "Staff load" not in html


def test_the_outsider_sees_no_system_figures_and_no_one_signed_out_gets_in(mallory, client):
    outsider = signed_in(mallory).get("/dashboard/").content.decode()

    assert "Key figures" not in outsider and "Staff load" not in outsider
    response = client.get("/dashboard/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/dashboard/"


def _queries_on_the_dashboard(user) -> int:
    # Count a view that computes the figures, not one served from the shared cache, and
    # the same way both times (the ended-counts snapshot taken again).
    forget_system_figures()
    stats.forget_ended_counts()
    client = signed_in(user)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/dashboard/").status_code == 200
    return len(ctx.captured_queries)


def _more_of_everything(n: int, *, creator, holder) -> None:
    by = Actor.system("tests")
    kind = make_task_type(f"kind-{n}", max_retries=0)
    for i in range(n):
        task_in_state(S.QUEUED, creator=creator, task_type=make_task_type(f"q-{n}-{i}"))
        ended(S.FAILED, creator=creator, assignee=holder, task_type=kind,
              ran=timedelta(minutes=1), ago=timedelta(hours=i))
        unit_services.unit_register(unit_id=f"u-{n}-{i}", by=by, may_rotate=True,
                                    unit_type=f"type-{n}-{i}", capacity=2)
        schedule_create(fields={"name": f"s-{n}-{i}", "title": "Report", "task_type": kind,
                                "delay_seconds": 60 + i}, by=by)
        make_staff(f"person-{n}-{i}")


def test_the_dashboard_queries_do_not_grow_with_tasks_units_schedules_or_staff(
        olga, rita, alice):
    _more_of_everything(2, creator=rita, holder=alice)
    few = _queries_on_the_dashboard(olga)
    _more_of_everything(6, creator=rita, holder=alice)
    many = _queries_on_the_dashboard(olga)

    assert few == many, (few, many)


def test_beat_takes_the_system_figures_and_a_view_only_reads_them(margaret, rita):
    refresh_dashboard_figures()
    task_in_state(S.QUEUED, creator=rita)

    with CaptureQueriesContext(connection) as ctx:
        html = signed_in(margaret).get("/dashboard/").content.decode()

    assert counter(html, "queued") == "0"  # as of the refresh, until the next one
    assert not [q for q in ctx.captured_queries if "tasks_task" in q["sql"]
                and "GROUP BY" in q["sql"].upper()]
    refresh_dashboard_figures()
    assert counter(signed_in(margaret).get("/dashboard/").content.decode(), "queued") == "1"


def test_a_deep_task_page_bounds_created_at_so_postgresql_can_start_the_index_there(olga,
                                                                                     rita):
    # The OR of the keyset condition alone is a filter PostgreSQL applies row by row along
    # the index (450 ms half-way down 1,000,000 rows); the plain bound is its index condition.
    tasks = [task_in_state(S.QUEUED, creator=rita, title=f"Chore {i}") for i in range(3)]
    cursor = encode_cursor(tasks[1].created_at, tasks[1].pk)

    with CaptureQueriesContext(connection) as ctx:
        html = signed_in(olga).get(f"/tasks/?after={cursor}").content.decode()

    listing = [q["sql"] for q in ctx.captured_queries if 'FROM "tasks_task"' in q["sql"]
               and "ORDER BY" in q["sql"]]
    assert any('"tasks_task"."created_at" <= ' in sql for sql in listing), listing
    assert "Chore 0" in html and "Chore 1" not in html and "Chore 2" not in html
