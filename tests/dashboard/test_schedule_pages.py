"""The schedules pages: who reads them, who runs them (the API's rule), the figures against the
API's own answers, flat query counts, and bad ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.schedules.models import Spawn
from apps.tasks.states import TaskStatus
from tests.builders import api_client, make_task_type, task_in_state
from tests.schedules.conftest import make_schedule

from .conftest import page_messages, signed_in

pytestmark = pytest.mark.django_db
API = "/api/v1/schedules"


@pytest.fixture
def report_type():
    return make_task_type("report")


def act(client, schedule, action, **extra):
    return client.post(f"/schedules/{schedule.pk}/act/", {"action": action, **extra},
                       follow=True)


def test_anonymous_visitors_are_sent_to_sign_in_and_change_nothing(report_type, client):
    schedule = make_schedule(report_type, name="nightly")
    for response in (client.get("/schedules/"), client.get(f"/schedules/{schedule.pk}/"),
                     client.post(f"/schedules/{schedule.pk}/act/", {"action": "trigger"})):
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not Spawn.objects.exists()


def test_staff_read_schedules_but_neither_see_buttons_nor_may_run_them(alice, report_type):
    schedule = make_schedule(report_type, name="nightly")
    client = signed_in(alice)

    listed = client.get("/schedules/").content.decode()
    detail = client.get(f"/schedules/{schedule.pk}/").content.decode()
    refused = [client.post(f"/schedules/{schedule.pk}/act/", {"action": a})
               for a in ("trigger", "disable")]
    by_api = api_client(alice).post(f"{API}/{schedule.pk}/trigger")

    assert "nightly" in listed and "nightly" in detail
    # The navigation offers the three pages to anyone signed in, as their views let them in.
    assert all(f'href="{path}"' in listed for path in ("/schedules/", "/workflows/",
                                                        "/dead-letters/"))
    assert 'value="trigger"' not in listed + detail
    assert [r.status_code for r in refused] == [403, 403] == [by_api.status_code, 403]
    schedule.refresh_from_db()
    assert schedule.enabled and not Spawn.objects.exists()


def test_a_manager_disables_enables_and_triggers_and_the_api_agrees(margaret, report_type):
    schedule = make_schedule(report_type, name="nightly")
    client = signed_in(margaret)

    disabled = act(client, schedule, "disable")
    after_disable = api_client(margaret).get(f"{API}/{schedule.pk}").json()
    enabled = act(client, schedule, "enable")
    triggered = act(client, schedule, "trigger", next="/schedules/")
    answer = api_client(margaret).get(f"{API}/{schedule.pk}").json()

    assert "nightly: disabled." in page_messages(disabled)
    assert after_disable["enabled"] is False and after_disable["next_run_at"] is None
    assert "nightly: enabled." in page_messages(enabled)
    assert triggered.redirect_chain[-1][0] == "/schedules/"
    assert "nightly: triggered now." in page_messages(triggered)
    spawn = Spawn.objects.get(schedule=schedule)
    assert spawn.origin == "trigger" and spawn.task is not None
    assert answer["enabled"] is True
    assert datetime.fromisoformat(answer["last_spawned_at"]) == spawn.created_at
    # The spawned task is linked from the schedule's page, with its status for live updates.
    page = client.get(f"/schedules/{schedule.pk}/").content.decode()
    assert f'href="/tasks/{spawn.task_id}/"' in page
    assert f'data-live-task="{spawn.task_id}" data-status="{spawn.task.status}"' in page


def test_a_trigger_the_overlap_policy_skips_says_nothing_was_spawned(olga, report_type):
    schedule = make_schedule(report_type, name="one at a time", overlap="skip")
    client = signed_in(olga)
    act(client, schedule, "trigger")

    second = act(client, schedule, "trigger")

    assert any(m.startswith("Nothing spawned:") for m in page_messages(second))
    assert Spawn.objects.filter(schedule=schedule, task__isnull=False).count() == 1


def test_the_list_shows_each_kind_of_when_and_the_apis_next_run(olga, report_type):
    moment = datetime(2031, 5, 4, 3, 2, tzinfo=UTC)
    made = [
        make_schedule(report_type, name="a cron", cron="30 6 * * 1", timezone="Europe/Paris"),
        make_schedule(report_type, name="b interval", interval_seconds=7200),
        make_schedule(report_type, name="c delay", delay_seconds=90),
        make_schedule(report_type, name="d once", run_once_at=moment),
        make_schedule(report_type, name="e off", cron="0 1 * * *", enabled=False),
    ]

    page = signed_in(olga).get("/schedules/").content.decode()
    api = {s["name"]: s for s in api_client(olga).get(API).json()["results"]}

    for text in ("cron 30 6 * * 1 (Europe/Paris)", "every 2 h",
                 "90 s after the previous task ends", "once at 2031-05-04 03:02 UTC"):
        assert text in page
    for schedule in made:
        next_run = api[schedule.name]["next_run_at"]
        row = page.split(f'data-schedule="{schedule.pk}"')[1].split("</tr>")[0]
        if next_run is None:
            assert ">none<" in row
        else:
            assert f'datetime="{datetime.fromisoformat(next_run).isoformat()}"' in row
    assert api["e off"]["next_run_at"] is None and "disabled" in page


def test_a_schedules_page_lists_the_apis_next_five_runs(alice, report_type):
    schedule = make_schedule(report_type, name="hourly", cron="15 * * * *",
                             timezone="America/New_York")
    page = signed_in(alice).get(f"/schedules/{schedule.pk}/").content.decode()
    api = api_client(alice).get(f"{API}/{schedule.pk}/next").json()

    assert len(api["next"]) == 5
    for moment in api["next"]:
        assert f'datetime="{datetime.fromisoformat(moment).isoformat()}"' in page


def test_a_spawned_task_the_reader_may_not_see_is_not_linked(alice, rita, olga, report_type):
    schedule = make_schedule(report_type, name="nightly")
    signed_in(olga).post(f"/schedules/{schedule.pk}/act/", {"action": "trigger"})
    spawn = Spawn.objects.get()

    page = signed_in(alice).get(f"/schedules/{schedule.pk}/").content.decode()

    assert f"/tasks/{spawn.task_id}/" not in page and "a task you do not see" in page


@pytest.mark.parametrize("path", ["/schedules/987654/", "/schedules/9223372036854775808/"])
def test_unknown_or_impossible_ids_are_404s(olga, path):
    client = signed_in(olga)
    assert client.get(path).status_code == 404
    assert client.post(f"{path}act/", {"action": "trigger"}).status_code == 404


def test_a_bad_action_is_a_message_and_changes_nothing(olga, report_type):
    schedule = make_schedule(report_type, name="nightly")

    response = act(signed_in(olga), schedule, "explode")

    assert any("Not done" in m for m in page_messages(response))
    schedule.refresh_from_db()
    assert schedule.enabled and not Spawn.objects.exists()


def test_the_list_costs_the_same_queries_for_5_schedules_or_50(olga, rita, report_type):
    client = signed_in(olga)
    client.get("/schedules/")  # the session and the user, once

    def build(count: int) -> None:
        for i in range(count):
            kind = [{"cron": "0 9 * * *"}, {"interval_seconds": 600},
                    {"delay_seconds": 60}][i % 3]
            schedule = make_schedule(report_type, name=f"s{count}-{i}", **kind)
            if i % 3 == 2:  # a fixed-delay schedule with a finished spawn behind it
                task = task_in_state(TaskStatus.COMPLETED, creator=rita,
                                     task_type=report_type) if i < 6 else None
                Spawn.objects.create(schedule=schedule, task=task,
                                     planned_time=datetime.now(UTC) - timedelta(hours=i))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/schedules/").status_code == 200
        return len(captured)

    build(5)
    few = queries()
    build(45)
    assert queries() == few
