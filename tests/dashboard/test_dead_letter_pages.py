"""The dead-letters page: what each person sees (the API's visibility rule), replaying one or
all shown under the API's rule for a retry, filters, bad input, flat query counts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.tasks.models import Task
from apps.tasks.states import TaskStatus
from tests.builders import api_client, insert_task_row, make_task_type, task_in_state

from .conftest import page_messages, signed_in

pytestmark = pytest.mark.django_db
S = TaskStatus
PAGE = "/dead-letters/"
REPLAY = "/dead-letters/replay/"


def dead(title: str, *, creator, assignee=None, task_type=None) -> Task:
    return task_in_state(S.FAILED, creator=creator, assignee=assignee, task_type=task_type,
                         title=title, error=f"{title} broke")


def test_anonymous_visitors_are_sent_to_sign_in_and_replay_nothing(rita, client):
    task = dead("nightly export", creator=rita)
    for response in (client.get(PAGE), client.post(REPLAY, {"task": str(task.pk)})):
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    task.refresh_from_db()
    assert task.status == S.FAILED


def test_an_outsider_neither_sees_nor_replays_anothers_dead_letter(rita, mallory):
    task = dead("nightly export", creator=rita)
    client = signed_in(mallory)

    page = client.get(PAGE).content.decode()
    one = client.post(REPLAY, {"task": str(task.pk)})
    shown = client.post(REPLAY, {"all": "1", "shown": [str(task.pk)]})

    assert "nightly export" not in page and "No dead letters." in page
    assert one.status_code == shown.status_code == 404
    assert api_client(mallory).post(f"/api/v1/tasks/{task.pk}/retry").status_code == 404
    task.refresh_from_db()
    assert task.status == S.FAILED


def test_the_holder_sees_it_but_may_not_replay_it_as_in_the_api(rita, alice):
    task = dead("nightly export", creator=rita, assignee=alice)
    client = signed_in(alice)

    page = client.get(PAGE).content.decode()
    refused = client.post(REPLAY, {"task": str(task.pk)})

    assert "nightly export" in page and "not yours to replay" in page
    assert 'name="task"' not in page and 'name="all"' not in page
    assert refused.status_code == 403
    assert api_client(alice).post(f"/api/v1/tasks/{task.pk}/retry").status_code == 403
    task.refresh_from_db()
    assert task.status == S.FAILED


def test_who_asked_for_it_replays_it_and_it_leaves_the_list(rita, alice):
    task = dead("nightly export", creator=rita, assignee=alice)
    client = signed_in(rita)

    response = client.post(REPLAY, {"task": str(task.pk), "next": PAGE}, follow=True)

    assert response.redirect_chain[-1][0] == PAGE
    assert "1 replayed (back to the queue)." in page_messages(response)
    assert "nightly export" not in response.content.decode()
    task.refresh_from_db()
    assert task.status != S.FAILED
    assert task.history.latest("id").reason == "dead letter replay"
    # The API agrees: the task reads as the page left it, and no longer lists as failed.
    api = api_client(rita)
    assert api.get(f"/api/v1/tasks/{task.pk}").json()["status"] == task.status
    assert api.get("/api/v1/tasks", {"status": "failed"}).json()["results"] == []


def test_replay_all_shown_replays_the_filtered_rows_only(margaret, rita):
    export, other = make_task_type("export"), make_task_type("other")
    exports = [dead(f"export {i}", creator=rita, task_type=export) for i in range(2)]
    kept = dead("something else", creator=rita, task_type=other)
    client = signed_in(margaret)

    page = client.get(PAGE, {"task_type": "export"}).content.decode()
    shown = sorted(re.findall(r'name="shown" value="([^"]+)"', page))
    response = client.post(REPLAY, {"all": "1", "shown": shown,
                                    "next": f"{PAGE}?task_type=export"}, follow=True)

    assert shown == sorted(str(t.pk) for t in exports)
    assert "Replay all shown (2)" in page and "something else" not in page
    assert "2 replayed (back to the queue)." in page_messages(response)
    assert Task.objects.filter(pk__in=shown, status=S.FAILED).count() == 0
    kept.refresh_from_db()
    assert kept.status == S.FAILED


def test_a_dead_letter_replayed_meanwhile_is_skipped_not_refused(rita):
    first, second = dead("first", creator=rita), dead("second", creator=rita)
    client = signed_in(rita)
    client.post(REPLAY, {"task": str(first.pk)})

    response = client.post(REPLAY, {"all": "1", "shown": [str(first.pk), str(second.pk)]},
                           follow=True)

    assert page_messages(response)[-2:] == ["1 replayed (back to the queue).",
                                            "1 skipped: no longer failed."]


def test_the_since_filter_and_bad_filters(rita):
    old = dead("old failure", creator=rita)
    Task.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=3))
    dead("fresh failure", creator=rita)
    client = signed_in(rita)
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    recent = client.get(PAGE, {"since": since}).content.decode()
    bad_time = client.get(PAGE, {"since": "yesterday-ish"})
    bad_type = client.get(PAGE, {"task_type": "no-such-type"})

    assert "fresh failure" in recent and "old failure" not in recent
    assert bad_time.status_code == bad_type.status_code == 400
    assert "fresh failure" not in bad_time.content.decode()


def test_bad_replay_forms_are_a_message_and_replay_nothing(rita):
    task = dead("nightly export", creator=rita)
    client = signed_in(rita)
    bad = [{"task": "not-a-uuid"}, {}, {"all": "1"}, {"all": "1", "shown": ["12", "x"]},
           {"all": "1", "shown": ["00000000-0000-0000-0000-000000000000"] * 201}]

    for data in bad:
        response = client.post(REPLAY, data, follow=True)
        assert response.status_code == 200, data
        assert any(m.startswith("Not done") for m in page_messages(response)), data
    task.refresh_from_db()
    assert task.status == S.FAILED


def test_an_unknown_task_is_a_404(rita):
    response = signed_in(rita).post(REPLAY, {"task": "6b1f0c1e-0000-4000-8000-000000000000"})
    assert response.status_code == 404


def test_the_page_costs_the_same_queries_for_5_dead_letters_or_50(margaret, rita, alice):
    kind = make_task_type("export")
    client = signed_in(margaret)
    client.get(PAGE)

    def build(count: int) -> None:
        now = timezone.now()
        for i in range(count):
            insert_task_row(S.FAILED, creator=rita, task_type=kind, finished_at=now,
                            assignee_user=alice if i % 2 else None, error="boom")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(PAGE).status_code == 200
        return len(captured)

    build(5)
    few = queries()
    build(45)
    assert queries() == few
