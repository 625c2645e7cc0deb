"""The staff workload page and the units pages: who gets in (the API's rules), the figures
(the stats API's, against hand-built data), drain and undrain through the API's services,
bad input, and queries that do not grow with the rows."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.actors import Actor
from apps.dashboard.policies import may_see_staff
from apps.execution import beats
from apps.execution import services as unit_services
from apps.execution.models import ExecutionUnit, UnitStatus
from apps.stats.policies import visible_staff
from apps.stats.selectors import forget_ended_counts
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus
from tests.builders import api_client, make_leave, make_staff, make_task_type, task_in_state

from .conftest import page_messages, signed_in

pytestmark = pytest.mark.django_db
S = TaskStatus
NOW = timezone.now()


@pytest.fixture(autouse=True)
def own_heartbeat_keys(settings):
    # Heartbeats live in a real, shared Redis: each test keeps its own keys (as
    # tests/execution do), and its own ended-counts snapshot (as tests/stats do).
    settings.UNITS_KEY_PREFIX = f"tm:test:{uuid.uuid4().hex}:"
    beats.reset_client()
    forget_ended_counts()
    yield
    beats.reset_client()
    forget_ended_counts()


def register(unit_id: str, *, unit_type: str = "docs", capacity: int = 2, **fields):
    return unit_services.unit_register(unit_id=unit_id, by=Actor.system("tests"),
                                       may_rotate=True, unit_type=unit_type,
                                       capacity=capacity, **fields).unit


def people_shown(response) -> list[str]:
    return re.findall(r'data-person="([^"]+)"', response.content.decode())


def row(response, username: str):
    return next(r for r in response.context["workload"].rows
                if r.figures.username == username)


def ended(task, *, due_in: timedelta | None = None):
    """`task` ended an hour ago, due `due_in` from then (negative: it was late)."""
    finished = NOW - timedelta(hours=1)
    Task.objects.filter(pk=task.pk).update(
        finished_at=finished, started_at=finished - timedelta(minutes=5),
        due_at=None if due_in is None else finished + due_in)
    return task


# --- who gets in -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/staff/", "/units/", "/units/worker-1/"])
def test_anonymous_visitors_are_sent_to_sign_in(path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


def test_each_page_and_its_navigation_entry_go_to_whom_the_api_answers(
        olga, margaret, sam, alice, rita, bob, amos):
    register("worker-1")
    shown = {}
    for user in (olga, margaret, sam, alice, amos):
        client, api = signed_in(user), api_client(user)
        nav = client.get("/dashboard/").content.decode().split("</nav>")[0]
        for page, endpoint in (("/staff/", "/api/v1/stats/staff"),
                               ("/units/", "/api/v1/execution-units/")):
            response, answer = client.get(page), api.get(endpoint)
            assert response.status_code == answer.status_code, (user.username, page)
            assert (f'href="{page}"' in nav) == (answer.status_code == 200), (user.username, page)
            if page == "/staff/" and answer.status_code == 200:
                shown[user.username] = people_shown(response)
                assert shown[user.username] == [p["username"] for p in answer.json()["staff"]]

    assert shown == {"olga": ["alice", "bob", "rita"], "margaret": ["alice", "bob", "rita"],
                     "sam": ["bob"], "alice": ["alice"]}  # amos: a 403, as the API


def test_the_staff_entry_rule_is_the_stats_apis_rule_for_the_whole_cast(
        olga, victor, margaret, sam, alice, rita, bob, amos, mallory):
    for user in (olga, victor, margaret, sam, alice, rita, bob, amos, mallory):
        assert may_see_staff(user) == (visible_staff(user) is not None), user.username


def test_only_admins_drain_or_undrain(olga, margaret):
    register("worker-1")
    manager = signed_in(margaret)
    assert "data-action" not in manager.get("/units/worker-1/").content.decode()
    assert manager.post("/units/worker-1/drain/").status_code == 403
    assert signed_in(olga).get("/units/").status_code == 200
    assert 'data-action="drain"' in signed_in(olga).get("/units/worker-1/").content.decode()
    assert ExecutionUnit.objects.get(unit_id="worker-1").status == UnitStatus.ONLINE


def test_whoever_may_not_list_units_sees_no_unit_and_drains_none(alice):
    register("worker-1")
    client = signed_in(alice)
    assert client.get("/units/worker-1/").status_code == 403
    assert client.post("/units/worker-1/drain/").status_code == 403
    assert ExecutionUnit.objects.get(unit_id="worker-1").status == UnitStatus.ONLINE


# --- the staff page's figures ----------------------------------------------------------------
def test_the_staff_page_shows_load_rates_skills_and_leave_as_built(margaret, alice, rita):
    kind = make_task_type(max_retries=0)
    task_in_state(S.RUNNING, creator=rita, assignee=alice, task_type=kind)
    ended(task_in_state(S.COMPLETED, creator=rita, assignee=alice, task_type=kind),
          due_in=timedelta(minutes=5))  # on time
    ended(task_in_state(S.COMPLETED, creator=rita, assignee=alice, task_type=kind),
          due_in=timedelta(minutes=-5))  # late
    ended(task_in_state(S.FAILED, creator=rita, assignee=alice, task_type=kind))
    make_leave(alice.staff, days_from_now=-1, days=3, reason="away")
    make_leave(rita.staff, days_from_now=5, days=2)
    make_leave(rita.staff, days_from_now=20, days=2)

    response = signed_in(margaret).get("/staff/")

    a, r = row(response, "alice"), row(response, "rita")
    assert (a.figures.load, a.figures.capacity, a.figures.open_tasks) == (1, 3, 1)
    assert (a.figures.completed, a.figures.failed) == (2, 1)
    assert a.figures.completion_rate == pytest.approx(2 / 3)
    assert a.figures.on_time_rate == pytest.approx(1 / 2)
    assert a.skills == [("python", 4), ("sql", 3)]
    assert a.leave_now["reason"] == "away" and a.next_leave is None
    assert r.leave_now is None
    assert r.next_leave["start"] == min(lv.start for lv in rita.staff.leaves.all())
    workload = response.context["workload"]
    assert workload.load_gini == pytest.approx(0.5)  # loads 1 and 0
    assert workload.skill_match_rate == pytest.approx(1.0)  # the type requires nothing
    html = response.content.decode()
    assert "1 of 3 (33%)" in html  # the bar's figures as text, not colour alone
    assert 'data-field="completion">67%' in html and 'data-field="on-time">50%' in html
    assert f'href="/tasks/?assignee={alice.pk}"' in html
    # the same figures as the stats API gives the same person
    api = {p["username"]: p for p in api_client(margaret).get("/api/v1/stats/staff").json()[
        "staff"]}
    assert api["alice"]["completion_rate"] == pytest.approx(a.figures.completion_rate)
    assert api["alice"]["on_time_rate"] == pytest.approx(a.figures.on_time_rate)


def test_a_persons_link_leads_to_their_open_tasks(margaret, alice, rita):
    kind = make_task_type()
    task_in_state(S.RUNNING, creator=rita, assignee=alice, task_type=kind, title="alice's")
    task_in_state(S.RUNNING, creator=rita, assignee=rita, task_type=kind, title="rita's")
    client = signed_in(margaret)
    html = client.get("/staff/").content.decode()
    link = re.search(rf'href="(/tasks/\?assignee={alice.pk}&amp;status=[^"]+)"', html)[1]

    tasks = client.get(link.replace("&amp;", "&")).content.decode()

    assert "alice&#x27;s" in tasks and "rita&#x27;s" not in tasks


def test_the_staff_filters(margaret, alice, rita, bob, support):
    make_leave(alice.staff, days_from_now=-1, days=3)
    client = signed_in(margaret)
    assert people_shown(client.get("/staff/?on_leave=true")) == ["alice"]
    assert people_shown(client.get("/staff/?on_leave=false")) == ["bob", "rita"]
    assert people_shown(client.get("/staff/?skill=sql")) == ["alice", "bob"]
    assert people_shown(client.get("/staff/?skill=sql&min_level=4")) == ["bob"]
    assert people_shown(client.get(f"/staff/?team={support.pk}")) == ["bob"]
    assert people_shown(client.get("/staff/?hours=168&team=")) == ["alice", "bob", "rita"]


def test_bad_staff_filters_are_a_400_not_a_500(margaret, alice):
    client = signed_in(margaret)
    for query in ("hours=5", "hours=x", "team=abc", "team=99999999999999999999",
                  "on_leave=perhaps", "min_level=9"):
        response = client.get(f"/staff/?{query}")
        assert response.status_code == 400, query
        assert "could not be read" in response.content.decode()


def test_the_staff_page_costs_the_same_for_3_or_30_people(olga, platform):
    kind = make_task_type()

    def add(first: int, last: int) -> None:
        for i in range(first, last):
            staff = make_staff(f"p{i:02}", team=platform, skills={"python": 1 + i % 5})
            make_leave(staff, days_from_now=1 + i, days=1)
            if i % 10 == 0:
                task_in_state(S.RUNNING, creator=staff.user, assignee=staff.user, task_type=kind)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/staff/").status_code == 200
        return len(ctx.captured_queries)

    client = signed_in(olga)
    add(0, 3)
    client.get("/staff/")
    few = queries()
    add(3, 30)

    assert len(people_shown(client.get("/staff/"))) == 30
    assert queries() == few


# --- units -----------------------------------------------------------------------------------
def test_the_units_list_shows_status_load_heartbeat_and_labels(olga):
    unit = register("worker-1", capacity=4, labels=["gpu", "eu-west"])
    register("worker-2", unit_type="ocr")
    ExecutionUnit.objects.filter(pk=unit.pk).update(held=3, metrics={"version": "1.4.2"})
    beats.record(unit.pk, load=3, metrics={}, at=timezone.now().timestamp() - 7)

    response = signed_in(olga).get("/units/")

    html = response.content.decode()
    assert re.findall(r'data-unit="([^"]+)"', html) == ["worker-1", "worker-2"]
    assert ('data-live-unit="worker-1" data-status="online"><span data-live-field="status">'
            'online</span>') in html
    assert "3 of 4" in html and "1.4.2" in html and "gpu" in html
    rows = {r.unit.unit_id: r for r in response.context["rows"]}
    assert rows["worker-1"].age in ("7 s", "8 s", "9 s") and not rows["worker-1"].late
    assert rows["worker-2"].heard_at is None and rows["worker-2"].late
    assert "never" in html
    only_ocr = signed_in(olga).get("/units/?unit_type=ocr")
    assert [r.unit.unit_id for r in only_ocr.context["rows"]] == ["worker-2"]
    assert signed_in(olga).get("/units/?status=sleeping").status_code == 400


def test_without_redis_the_units_pages_still_render_and_say_unknown(olga, settings):
    unit = register("worker-1")
    ExecutionUnit.objects.filter(pk=unit.pk).update(
        last_heartbeat_at=timezone.now() - timedelta(minutes=2))
    settings.UNITS_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    beats.reset_client()
    client = signed_in(olga)

    for path in ("/units/", "/units/worker-1/"):
        response = client.get(path)
        assert response.status_code == 200
        html = response.content.decode()
        assert 'data-heard="unknown"' in html and "Redis cannot be reached" in html
        assert "2 min ago" in html  # what the database last recorded


def test_a_unit_page_shows_its_work_and_its_history(margaret, olga, alice):
    docs = make_task_type("docs", assignee_kind="unit")
    unit = register("worker-1")
    task = task_in_state(S.QUEUED, creator=alice, task_type=docs, title="Scan the invoices")
    claimed = unit_services.tasks_claim(unit=unit, max_tasks=1, by=unit_services.unit_actor(
        unit=unit))
    assert [t.pk for t in claimed] == [task.pk]
    unit_services.unit_drain(unit=unit, by=Actor.for_user(olga), reason="maintenance")

    html = signed_in(margaret).get("/units/worker-1/").content.decode()

    assert f'data-live-task="{task.pk}" data-status="{Task.objects.get(pk=task.pk).status}"' \
        in html
    assert f'href="/tasks/{task.pk}/"' in html and "Scan the invoices" in html
    assert "online → draining" in html and "maintenance" in html
    assert 'data-live-unit="worker-1" data-status="draining"' in html


def test_draining_on_the_page_is_what_the_api_then_reports(olga):
    register("worker-1")
    client = signed_in(olga)

    response = client.post("/units/worker-1/drain/", {"reason": "kernel update"}, follow=True)

    assert response.redirect_chain[-1][0] == "/units/worker-1/"
    assert page_messages(response) == ["worker-1 is draining: it takes no new work."]
    api = api_client(olga).get("/api/v1/execution-units/worker-1/").json()
    assert api["status"] == "draining"
    assert 'data-action="undrain"' in response.content.decode()

    client.post("/units/worker-1/undrain/", {"reason": ""})
    assert api_client(olga).get("/api/v1/execution-units/worker-1/").json()["status"] == "online"


def test_a_change_the_unit_cannot_take_is_a_message_with_nothing_written(olga):
    unit = register("worker-1")
    client = signed_in(olga)
    response = client.post("/units/worker-1/undrain/", follow=True)  # it is online
    assert response.status_code == 200
    assert page_messages(response)[0].startswith("Not done: unit worker-1 is online")
    response = client.post("/units/worker-1/drain/", {"reason": "x" * 301}, follow=True)
    assert page_messages(response)[0].startswith("Not done: Reason (optional)")
    assert ExecutionUnit.objects.get(pk=unit.pk).status == UnitStatus.ONLINE
    assert unit.events.count() == 1  # registered, nothing since


def test_a_unit_that_does_not_exist_is_a_404(olga):
    register("worker-1")
    client = signed_in(olga)
    for path in ("/units/nobody/", "/units/-bad/", f"/units/{'w' * 101}/"):
        assert client.get(path).status_code == 404, path
    for path in ("/units/nobody/drain/", "/units/worker-1/explode/"):
        assert client.post(path).status_code == 404, path


def test_a_post_without_the_csrf_token_is_refused(olga):
    register("worker-1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(olga)

    assert client.post("/units/worker-1/drain/").status_code == 403
    assert ExecutionUnit.objects.get(unit_id="worker-1").status == UnitStatus.ONLINE


def test_the_units_page_costs_the_same_for_3_or_30_units(olga):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/units/").status_code == 200
        return len(ctx.captured_queries)

    client = signed_in(olga)
    for i in range(3):
        register(f"worker-{i:02}")
    client.get("/units/")
    few = queries()
    for i in range(3, 30):
        beats.record(register(f"worker-{i:02}").pk, load=0, metrics={})

    assert len(client.get("/units/").context["rows"]) == 30
    assert queries() == few
