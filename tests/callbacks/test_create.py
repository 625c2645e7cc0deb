"""A task carries a callback_url given on create (one task or a batch), shown in its answer;
bad URLs are a 400 naming callback_url, and nothing is written."""

from __future__ import annotations

import pytest

from apps.callbacks.models import CallbackSecret, TaskCallback
from apps.tasks.models import Task
from tests.builders import api_client, field_errors, make_task_type

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/taskmanage?x=1"


@pytest.fixture
def chores():
    return make_task_type("chores")


def test_a_task_created_with_a_callback_url_shows_it_and_keeps_it(alice, chores):
    client = api_client(alice)

    resp = client.post("/api/v1/tasks", {"title": "t", "task_type": "chores",
                                         "callback_url": URL}, format="json")

    assert resp.status_code == 201, resp.json()
    assert resp.json()["callback_url"] == URL
    assert TaskCallback.objects.get(task_id=resp.json()["id"]).owner == alice
    assert client.get(f"/api/v1/tasks/{resp.json()['id']}").json()["callback_url"] == URL
    listed = client.get("/api/v1/tasks").json()["results"]
    assert [t["callback_url"] for t in listed] == [URL]


def test_the_creators_secret_is_made_on_first_use(alice, chores):
    api_client(alice).post("/api/v1/tasks", {"title": "t", "task_type": "chores",
                                             "callback_url": URL}, format="json")

    assert CallbackSecret.objects.get(user=alice).secret.startswith("whsec_")


def test_a_task_without_a_callback_shows_null(alice, chores):
    resp = api_client(alice).post("/api/v1/tasks", {"title": "t", "task_type": "chores"},
                                  format="json")

    assert resp.status_code == 201 and resp.json()["callback_url"] is None
    assert not TaskCallback.objects.exists()


def test_a_batch_carries_callbacks_per_item(alice, chores):
    resp = api_client(alice).post("/api/v1/tasks/batch", {"tasks": [
        {"title": "a", "task_type": "chores", "callback_url": URL},
        {"title": "b", "task_type": "chores"},
    ]}, format="json")

    assert resp.status_code == 201, resp.json()
    first, second = (t["id"] for t in resp.json()["tasks"])
    assert TaskCallback.objects.get().task_id == Task.objects.get(pk=first).pk
    assert not TaskCallback.objects.filter(task_id=second).exists()


@pytest.mark.parametrize("url", [
    "ftp://hooks.example.com/x",
    "javascript:alert(1)",
    "hooks.example.com/no-scheme",
    "https://user:pass@hooks.example.com/x",
    "https://token@hooks.example.com/x",
    "https:///no-host",
    "https://hooks.example.com:99999/x",
    "https://hooks.example.com/" + "a" * 2000,
    "http://127.0.0.1/x",
    "http://10.1.2.3/x",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/x",
    "http://[::ffff:10.0.0.1]/x",
    "http://0.0.0.0/x",
    "https://hooks.example.com/a b",
    "https://hooks.example.com/ä",  # sent as is, it failed every attempt without a record
    "https://a..b/x",
    "https://" + "a" * 64 + ".example.com/x",
    "",
    7,
    ["https://hooks.example.com"],
])
def test_a_bad_callback_url_is_a_400_naming_it_and_nothing_is_written(alice, chores, url):
    resp = api_client(alice).post("/api/v1/tasks", {"title": "t", "task_type": "chores",
                                                    "callback_url": url}, format="json")

    assert resp.status_code == 400
    assert list(field_errors(resp)) == ["callback_url"]
    assert not Task.objects.exists() and not TaskCallback.objects.exists()


def test_a_bad_callback_url_in_a_batch_writes_no_task_of_it(alice, chores):
    resp = api_client(alice).post("/api/v1/tasks/batch", {"tasks": [
        {"title": "a", "task_type": "chores", "callback_url": URL},
        {"title": "b", "task_type": "chores", "callback_url": "http://10.0.0.1/"},
    ]}, format="json")

    assert resp.status_code == 400
    assert "callback_url" in str(resp.json())
    assert not Task.objects.exists() and not TaskCallback.objects.exists()


def test_private_literal_addresses_are_accepted_when_the_setting_allows_them(
        alice, chores, settings):
    settings.CALLBACK_ALLOW_PRIVATE = True

    resp = api_client(alice).post("/api/v1/tasks", {"title": "t", "task_type": "chores",
                                                    "callback_url": "http://10.1.2.3/x"},
                                  format="json")

    assert resp.status_code == 201 and resp.json()["callback_url"] == "http://10.1.2.3/x"
