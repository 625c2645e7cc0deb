"""The workflows pages: the list and the graph drawn as SVG, under the API's visibility rule,
figures against the API's answers, flat query counts, bad ids, and a large graph's cost."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.builders import api_client
from tests.workflows.conftest import complete, create, fail, graph_body, ids, start, step

from .conftest import signed_in

pytestmark = pytest.mark.django_db
__all__ = ["step"]  # the workflow tests' task type, a fixture used here by name


def nodes_drawn(html: str) -> dict[str, dict[str, str]]:
    """The graph's nodes by key: their attributes (data-live-task only where the task is shown)."""
    found = {}
    for attrs in re.findall(r'<g class="wf-node" ([^>]*)>', html):
        values = dict(re.findall(r'([a-z-]+)="([^"]*)"', attrs))
        found[values["data-key"]] = values
    return found


def test_anonymous_visitors_are_sent_to_sign_in(rita, client, step):
    created = create(rita, graph_body([("a", "b")]))
    for path in ("/workflows/", f"/workflows/{created['id']}/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_an_outsider_neither_lists_nor_opens_anothers_workflow(rita, mallory, step):
    created = create(rita, graph_body([("a", "b")], name="rita's etl"))
    client = signed_in(mallory)

    assert "rita&#x27;s etl" not in client.get("/workflows/").content.decode()
    assert client.get(f"/workflows/{created['id']}/").status_code == 404
    assert api_client(mallory).get(f"/api/v1/workflows/{created['id']}").status_code == 404


@pytest.mark.parametrize("path", ["/workflows/987654/", "/workflows/9223372036854775808/"])
def test_unknown_or_impossible_ids_are_404s(olga, path):
    assert signed_in(olga).get(path).status_code == 404


def test_the_list_shows_the_apis_status_and_progress(rita, alice, step):
    diamond = create(rita, graph_body([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
                                      name="diamond"))
    broken = create(rita, graph_body([("x", "y")], name="broken"))
    complete(ids(diamond)["a"], alice)
    complete(ids(diamond)["b"], alice)
    fail(ids(broken)["x"], alice)

    page = signed_in(rita).get("/workflows/").content.decode()
    api = {w["name"]: w for w in api_client(rita).get("/api/v1/workflows").json()["results"]}

    assert (api["diamond"]["status"], api["diamond"]["progress"]) == (
        "running", {"done": 2, "total": 4})
    assert api["broken"]["status"] == "failed"
    for name in ("diamond", "broken"):
        w = api[name]
        row = page.split(f'data-workflow="{w["id"]}"')[1].split("</tr>")[0]
        assert f">{w['status']}<" in row
        assert f"{w['progress']['done']}/{w['progress']['total']}" in row


def test_the_graph_draws_every_step_in_its_state_linked_when_the_reader_may_open_it(
        rita, alice, step):
    created = create(rita, graph_body([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]))
    task = ids(created)
    complete(task["a"], alice)
    start(task["b"], alice)
    fail(task["c"], alice)

    page = signed_in(rita).get(f"/workflows/{created['id']}/").content.decode()
    drawn = nodes_drawn(page)

    api = api_client(rita).get(f"/api/v1/workflows/{created['id']}").json()
    assert {k: v["data-status"] for k, v in drawn.items()} == {
        n["key"]: n["status"] for n in api["nodes"]}
    assert {v["data-status"] for v in drawn.values()} >= {"completed", "running", "failed"}
    assert all(drawn[k]["data-live-task"] == task[k] for k in task)
    for key in task:
        assert f'href="/tasks/{task[key]}/"' in page
    assert page.count('marker-end="url(#arrow)"') == 4
    # Each status is written in its node, not told by colour alone.
    assert re.search(r'data-key="c".*?data-live-field="status">failed<', page, re.S)


def test_steps_the_reader_may_not_see_show_only_their_key_and_status(rita, alice, step):
    created = create(rita, graph_body([("a", "b")]))
    task = ids(created)
    start(task["a"], alice)  # alice holds a, and so sees the workflow; b is rita's alone

    page = signed_in(alice).get(f"/workflows/{created['id']}/").content.decode()
    drawn = nodes_drawn(page)

    assert drawn["a"]["data-live-task"] == task["a"]
    assert "data-live-task" not in drawn["b"] and drawn["b"]["data-status"] == "blocked"
    assert task["b"] not in page and "step b" not in page


def test_the_list_costs_the_same_queries_for_3_workflows_or_12(rita, olga, step):
    client = signed_in(olga)
    client.get("/workflows/")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/workflows/").status_code == 200
        return len(captured)

    for i in range(3):
        create(rita, graph_body([("a", "b")], name=f"w{i}"))
    few = queries()
    for i in range(9):
        create(rita, graph_body([("a", "b"), ("b", "c")], name=f"more{i}"))
    assert queries() == few


def test_a_graph_of_a_thousand_steps_is_drawn_whole_in_a_few_queries(rita, step):
    # Its time is measured by `manage.py bench dashboard` (pages.workflow_graph).
    keys = [f"s{i:04d}" for i in range(1000)]
    # A wide fan of chains: ten columns of a hundred steps, each waiting for one before it.
    edges = [(keys[i - 100], keys[i]) for i in range(100, 1000)] + [
        (keys[i - 99], keys[i]) for i in range(100, 1000, 7)]
    created = create(rita, graph_body(edges, keys=keys, name="big"))
    client = signed_in(rita)
    client.get(f"/workflows/{created['id']}/")  # the session and permissions cached

    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/workflows/{created['id']}/")

    assert response.status_code == 200
    assert len(nodes_drawn(response.content.decode())) == 1000
    assert len(captured) < 15


def test_titles_are_escaped_in_the_hand_written_svg(rita, step):
    created = create(rita, graph_body([("a", "b")], title='<script>alert("x")</script> & co'))

    page = signed_in(rita).get(f"/workflows/{created['id']}/").content.decode()

    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page
