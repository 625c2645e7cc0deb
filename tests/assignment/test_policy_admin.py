"""The assignment policy on the task type's admin page: an inline of apps.assignment, saved
through its service, its strategy checked against the registry."""

from __future__ import annotations

import pytest

from apps.assignment.models import AssignmentPolicy
from apps.assignment.selectors import policy_of
from apps.tasks.models import TaskType
from tests.admin_forms import form_data
from tests.builders import make_task_type

pytestmark = pytest.mark.django_db
PREFIX = "assignment_policy"


@pytest.fixture
def operator(olga, client):
    user = olga
    client.force_login(user)
    return user


def change(client, kind, **overrides):
    url = f"/admin/tasks/tasktype/{kind.pk}/change/"
    return client.post(url, form_data(client.get(url), **overrides))


def test_the_page_shows_the_defaults_of_a_type_without_a_row(client, operator):
    kind = TaskType.objects.create(key="bare", name="Bare")
    page = client.get(f"/admin/tasks/tasktype/{kind.pk}/change/")
    [inline] = [i for i in page.context["inline_admin_formsets"]
                if i.formset.model is AssignmentPolicy]
    assert inline.formset.forms[0]["strategy"].value() == "least_loaded"
    # Saving the page unchanged writes no policy: the type keeps running on the defaults.
    assert change(client, kind).status_code == 302
    assert not AssignmentPolicy.objects.filter(task_type=kind).exists()


def test_an_unknown_strategy_is_a_form_error_and_nothing_is_saved(client, operator):
    kind = make_task_type("callback", strategy="failover")
    resp = change(client, kind, name="Renamed", **{f"{PREFIX}-0-strategy": "least_laoded"})
    assert resp.status_code == 200  # the form again, with the error
    page = resp.content.decode()
    assert "Unknown strategy &#x27;least_laoded&#x27;" in page and "round_robin" in page
    kind.refresh_from_db()
    assert kind.name == "Callback" and policy_of(task_type=kind).strategy == "failover"


def test_a_policy_change_is_saved_through_the_service(client, operator):
    kind = TaskType.objects.create(key="bare", name="Bare")
    resp = change(client, kind, **{f"{PREFIX}-0-strategy": "round_robin",
                                   f"{PREFIX}-0-confirmation_timeout": "90"})
    assert resp.status_code == 302, resp.context["errors"] if resp.context else resp
    policy = AssignmentPolicy.objects.get(task_type=kind)
    assert (policy.strategy, policy.confirmation_timeout) == ("round_robin", 90)


def test_adding_a_type_writes_its_policy(client, operator):
    data = form_data(client.get("/admin/tasks/tasktype/add/"), key="new", name="New",
                     **{f"{PREFIX}-0-strategy": "skill_match"})
    resp = client.post("/admin/tasks/tasktype/add/", data)
    assert resp.status_code == 302, resp.context["errors"] if resp.context else resp
    assert AssignmentPolicy.objects.get(task_type__key="new").strategy == "skill_match"


def test_the_list_shows_each_types_strategy(client, operator):
    make_task_type("callback", strategy="failover")
    page = client.get("/admin/tasks/tasktype/").content.decode()
    assert "failover" in page
