"""The task list (the API's filter set, keyset pages, no COUNT) and the task page, whose
buttons are exactly the transitions the API would accept from the same person."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.tasks.models import Task
from apps.tasks.policies import API_ACTIONS
from apps.tasks.states import TaskStatus
from tests.builders import create_task, make_task_type, task_in_state

from .conftest import buttons, page_messages, signed_in

pytestmark = pytest.mark.django_db
S = TaskStatus


def titles(html: str) -> list[str]:
    return re.findall(r'<td><a href="/tasks/[0-9a-f-]+/">([^<]+)</a></td>', html)


def next_link(html: str) -> str | None:
    found = re.search(r'<a href="\?([^"]*)" rel="next">', html)
    return found.group(1).replace("&amp;", "&") if found else None


def prev_link(html: str) -> str | None:
    found = re.search(r'<a href="\?([^"]*)" rel="prev">', html)
    return found.group(1).replace("&amp;", "&") if found else None


@pytest.fixture
def many(rita):
    """25 tasks of rita's, one second apart, newest last; and five sharing one moment."""
    kind = make_task_type()
    now = timezone.now()
    made = []
    for n in range(25):
        task = create_task(by=rita, task_type=kind, title=f"job {n:02d}")
        moment = now - timedelta(seconds=100 - n) if n < 20 else now
        Task.objects.filter(pk=task.pk).update(created_at=moment)
        made.append(task)
    return made


# --- the list --------------------------------------------------------------------------------
def test_pages_walk_every_task_once_forward_and_back(rita, many):
    client = signed_in(rita)
    seen, query, pages = [], "page_size=7", []
    while query is not None:
        html = client.get(f"/tasks/?{query}").content.decode()
        pages.append(titles(html))
        seen += pages[-1]
        query = next_link(html)
    back = prev_link(html)
    newer = titles(client.get(f"/tasks/?{back}").content.decode())

    assert sorted(seen) == sorted(t.title for t in many) and len(seen) == 25
    assert [len(p) for p in pages] == [7, 7, 7, 4]
    assert seen[5:] == [f"job {n:02d}" for n in range(19, -1, -1)]  # newest first
    assert newer == pages[-2]


def test_the_list_uses_the_api_filter_set(rita, alice, many):
    running = task_in_state(S.RUNNING, creator=rita, assignee=alice, title="the running one")

    html = signed_in(rita).get(f"/tasks/?status=running&assignee={alice.pk}").content.decode()

    assert titles(html) == [running.title]


def test_search_finds_by_title_words_reference_and_id(rita, many):
    client = signed_in(rita)
    tagged = create_task(by=rita, title="Quarterly report", reference="REF-77")

    assert titles(client.get("/tasks/?search=quarterly").content.decode()) == [tagged.title]
    assert titles(client.get("/tasks/?search=REF-77").content.decode()) == [tagged.title]
    assert titles(client.get(f"/tasks/?search={many[3].pk}").content.decode()) == ["job 03"]


@pytest.mark.parametrize(("query", "names"), [
    ("status=sleeping", "status"),
    ("priority=urgent", "priority"),
    ("assignee=abc", "assignee"),
    ("created_after=yesterday", "created_after"),
    ("parent=abc", "parent"),
])
def test_a_bad_filter_is_shown_on_its_field(rita, query, names):
    response = signed_in(rita).get(f"/tasks/?{query}")
    html = response.content.decode()

    assert response.status_code == 400
    assert "Some filters could not be read" in html
    field = html.split(f'id="id_{names}"', 1)[1].split('class="field"', 1)[0]
    assert 'class="errorlist' in field


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize("query", [
    "after=bm90LWEtY3Vyc29y", "before=%%%", "page_size=0", "page_size=201", "page_size=x",
    f"after={cursor('2026-01-01T00:00:00|not-a-uuid')}",
    f"after={cursor('2026-01-01T00:00:00|' + str(uuid.UUID(int=1)))}",  # no time zone
    f"before={cursor('0001-01-01T00:00:00+23:59|' + str(uuid.UUID(int=1)))}",
])
def test_a_bad_page_link_is_a_400_that_says_so(rita, query):
    response = signed_in(rita).get(f"/tasks/?{query}")

    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()


def test_a_cursor_with_an_offset_postgresql_refuses_is_read_in_utc(rita, many):
    far_east = cursor("2030-01-01T00:00:00+23:30|" + str(uuid.UUID(int=1)))

    response = signed_in(rita).get(f"/tasks/?after={far_east}")

    assert response.status_code == 200 and len(titles(response.content.decode())) == 25


def test_fields_left_empty_mean_any(rita, many):
    query = "search=&status=&task_type=&priority=&assignee=&parent=&created_after=&page_size="

    response = signed_in(rita).get(f"/tasks/?{query}")

    assert response.status_code == 200 and len(titles(response.content.decode())) == 25


def test_mallory_sees_none_of_the_others_tasks(mallory, many):
    html = signed_in(mallory).get("/tasks/").content.decode()

    assert titles(html) == []


@pytest.mark.parametrize("size", [3, 20])
def test_a_page_costs_the_same_queries_whatever_its_size_and_never_counts(rita, many, size):
    client = signed_in(rita)
    client.get("/tasks/?page_size=3")  # warm: the session and the user, as on any view

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/tasks/?page_size={size}")

    assert len(titles(response.content.decode())) == size
    sql = [q["sql"].upper() for q in ctx.captured_queries]
    assert not [q for q in sql if "COUNT(" in q]
    assert len(sql) == 6, sql  # session, user, managed teams, managers group, staff, rows


def test_the_managers_page_costs_the_same_for_twenty_holders(margaret, rita, alice):
    kind = make_task_type()
    for n in range(20):
        task_in_state(S.QUEUED, creator=rita, task_type=kind, title=f"q{n}")
    task_in_state(S.RUNNING, creator=rita, assignee=alice, task_type=kind)
    client = signed_in(margaret)
    client.get("/tasks/?page_size=1")

    with CaptureQueriesContext(connection) as small:
        client.get("/tasks/?page_size=1")
    with CaptureQueriesContext(connection) as large:
        client.get("/tasks/?page_size=21")

    assert len(large.captured_queries) == len(small.captured_queries)


# --- the task page ---------------------------------------------------------------------------
def test_the_task_page_shows_history_assignment_log_and_progress(rita, alice):
    task = task_in_state(S.RUNNING, creator=rita, assignee=alice, progress=40,
                         title="Migrate the ledger")
    signed_in(alice).post(f"/tasks/{task.pk}/log/", {"level": "info", "message": "halfway"})

    html = signed_in(rita).get(f"/tasks/{task.pk}/").content.decode()

    assert "Migrate the ledger" in html and 'value="40"' in html
    timeline = html.split('class="timeline"', 1)[1].split("</ol>", 1)[0]
    assert [m for m in re.findall(r"<strong>(\w+)</strong>", timeline)] == [
        "create", "assign", "start"]
    assert "halfway" in html
    assert "Assignments" in html and alice.username in html


@pytest.mark.parametrize("path", ["/tasks/not-a-uuid/", "/tasks/00000000-0000-0000-0000-0000000"
                                  "00000/", "/approvals/99999999999999999999999/decide/"])
def test_a_bad_id_is_a_404(alice, path):
    client = signed_in(alice)

    response = client.post(path) if "decide" in path else client.get(path)

    assert response.status_code == 404


def test_mallory_cannot_open_someone_elses_task_nor_act_on_it(rita, alice, mallory):
    task = task_in_state(S.ASSIGNED, creator=rita, assignee=alice)
    client = signed_in(mallory)

    page = client.get(f"/tasks/{task.pk}/")
    act = client.post(f"/tasks/{task.pk}/act/", {"action": "start"})
    log = client.post(f"/tasks/{task.pk}/log/", {"level": "info", "message": "x"})

    assert (page.status_code, act.status_code, log.status_code) == (404, 404, 404)
    task.refresh_from_db()
    assert task.status == S.ASSIGNED and not task.logs.exists()


class Rollback(Exception):
    pass


def api_accepts(user, task, action: str) -> bool:
    """Would the API perform `action` for `user`? Asked for real, then rolled back."""
    client = APIClient()
    client.force_authenticate(user)
    try:
        with transaction.atomic():
            code = client.post(f"/api/v1/tasks/{task.pk}/{action}", {}, format="json").status_code
            raise Rollback(code)
    except Rollback as answer:
        return answer.args[0] == 200


CAST = ["alice", "rita", "margaret", "sam", "bob", "amos", "mallory", "olga"]
STATES = [S.DRAFT, S.QUEUED, S.ASSIGNED, S.RUNNING, S.PAUSED, S.IN_REVIEW, S.FAILED,
          S.CANCELLED]


@pytest.mark.parametrize("status", STATES)
def test_buttons_shown_are_the_actions_the_api_accepts(request, rita, alice, status):
    kind = make_task_type(max_retries=0)
    task = task_in_state(status, creator=rita, assignee=alice, task_type=kind)
    for who in CAST:
        user = request.getfixturevalue(who)
        response = signed_in(user).get(f"/tasks/{task.pk}/")
        shown = buttons(response.content.decode()) if response.status_code == 200 else []

        accepted = [a for a in API_ACTIONS if api_accepts(user, task, a)]

        assert shown == accepted, (who, status)


def test_a_button_runs_the_service_and_says_so(rita, alice):
    task = task_in_state(S.ASSIGNED, creator=rita, assignee=alice)
    client = signed_in(alice)

    response = client.post(f"/tasks/{task.pk}/act/", {"action": "start"}, follow=True)

    task.refresh_from_db()
    assert task.status == S.RUNNING
    assert "Done: start." in page_messages(response)
    assert task.history.filter(transition="start", actor_user=alice).exists()


def test_an_action_the_state_no_longer_allows_is_a_message_not_an_error(rita, alice):
    task = task_in_state(S.RUNNING, creator=rita, assignee=alice)
    client = signed_in(alice)

    response = client.post(f"/tasks/{task.pk}/act/", {"action": "start"}, follow=True)

    assert response.status_code == 200
    assert any("cannot start a task that is running" in m for m in page_messages(response))


def test_an_action_the_user_may_not_take_is_a_403(rita, alice):
    task = task_in_state(S.ASSIGNED, creator=rita, assignee=alice)

    response = signed_in(rita).post(f"/tasks/{task.pk}/act/", {"action": "start"})

    assert response.status_code == 403
    task.refresh_from_db()
    assert task.status == S.ASSIGNED


def test_an_unknown_action_is_a_message(rita, alice):
    task = task_in_state(S.ASSIGNED, creator=rita, assignee=alice)

    response = signed_in(alice).post(f"/tasks/{task.pk}/act/", {"action": "explode"},
                                     follow=True)

    assert response.status_code == 200
    assert any("Select a valid choice" in m for m in page_messages(response))


def test_progress_out_of_range_is_refused_on_the_field(rita, alice):
    task = task_in_state(S.RUNNING, creator=rita, assignee=alice, progress=10)
    client = signed_in(alice)

    bad = client.post(f"/tasks/{task.pk}/progress/", {"progress": "150"}, follow=True)
    good = client.post(f"/tasks/{task.pk}/progress/", {"progress": "60"}, follow=True)

    task.refresh_from_db()
    assert task.progress == 60
    assert any(m.startswith("Not done: Progress (%)") for m in page_messages(bad))
    assert "Progress 60% reported." in page_messages(good)


def test_forms_on_the_task_page_need_a_csrf_token(rita, alice):
    task = task_in_state(S.ASSIGNED, creator=rita, assignee=alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    for path, data in [("act/", {"action": "start"}), ("progress/", {"progress": 5}),
                       ("log/", {"level": "info", "message": "x"})]:
        assert client.post(f"/tasks/{task.pk}/{path}", data).status_code == 403
    task.refresh_from_db()
    assert task.status == S.ASSIGNED


def test_next_never_leads_off_the_site(rita, alice):
    task = task_in_state(S.ASSIGNED, creator=rita, assignee=alice)

    response = signed_in(alice).post(f"/tasks/{task.pk}/act/",
                                     {"action": "start", "next": "https://evil.example/"})

    assert response["Location"] == f"/tasks/{task.pk}/"


def test_the_task_page_costs_the_same_with_a_long_history(rita, alice):
    short = task_in_state(S.RUNNING, creator=rita, assignee=alice)
    long = task_in_state(S.RUNNING, creator=rita, assignee=alice, attempts=3)
    client = signed_in(alice)
    client.get(f"/tasks/{short.pk}/")

    with CaptureQueriesContext(connection) as few:
        client.get(f"/tasks/{short.pk}/")
    with CaptureQueriesContext(connection) as more:
        client.get(f"/tasks/{long.pk}/")

    assert long.history.count() > short.history.count() + 4
    assert len(more.captured_queries) == len(few.captured_queries)
