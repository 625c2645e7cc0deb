"""The operator's views of a workflow: the admin (read-only, the graph as a table) and
`manage.py workflow show ID` (one line per node with its status and what it waits for)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests.workflows.conftest import complete, create, graph_body, ids

pytestmark = pytest.mark.django_db

DIAMOND = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_command_shows_each_node_with_its_status_and_what_it_waits_for(
        rita, alice, step):
    created = create(rita, graph_body(DIAMOND))
    t = ids(created)
    complete(t["a"], alice)
    complete(t["b"], alice)
    out = StringIO()
    call_command("workflow", "show", str(created["id"]), stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == (f"workflow {created['id']} 'etl': running, 2/4 done, "
                        "on failure: cancel_downstream")
    assert lines[1].split() == ["a", "completed", t["a"], "no", "dependencies"]
    assert lines[3].split() == ["c", "queued", t["c"], "after", "a"]
    assert lines[4].split() == ["d", "blocked", t["d"], "waits", "for", "c"]


def test_the_command_says_so_for_an_unknown_workflow():
    with pytest.raises(CommandError, match="No workflow 999"):
        call_command("workflow", "show", "999")


def test_the_admin_lists_workflows_and_shows_the_graph_as_a_table(olga, rita, step):
    created = create(rita, graph_body(DIAMOND))
    client = admin_client(olga)
    listing = client.get("/admin/workflows/workflow/")
    assert listing.status_code == 200
    assert b"etl" in listing.content and b"0 / 4" in listing.content
    page = client.get(f"/admin/workflows/workflow/{created['id']}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<th>waits for</th>" in html and "step d" in html and "b, c" in html
    assert client.get("/admin/workflows/workflow/add/").status_code == 403


def test_staff_without_admin_rights_do_not_get_into_the_admin(alice, rita, step):
    created = create(rita, graph_body(DIAMOND))
    response = admin_client(alice).get(f"/admin/workflows/workflow/{created['id']}/change/")
    assert response.status_code == 302  # to the admin's login page
