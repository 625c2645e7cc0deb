"""`search` on the task list: one filter of the filter set the API and the pages share."""

from __future__ import annotations

import pytest

from tests.builders import api_client, create_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks(rita):
    return {
        "report": create_task(by=rita, title="Quarterly Report", reference="FIN-7"),
        "other": create_task(by=rita, title="Rotate keys", reference="OPS-1"),
    }


@pytest.mark.parametrize(("search", "found"), [
    ("quarterly", ["report"]),  # words of the title, any case
    ("FIN-7", ["report"]),  # a reference, exactly
    ("FIN", []),  # not part of a reference
    ("nothing like it", []),
    ("  ", ["report", "other"]),  # blank: no filter
])
def test_search_by_title_words_or_reference(rita, tasks, search, found):
    response = api_client(rita).get("/api/v1/tasks", {"search": search})

    assert response.status_code == 200
    titles = {t["title"] for t in response.json()["results"]}
    assert titles == {tasks[name].title for name in found}


def test_search_by_id_finds_that_task_only(rita, tasks):
    response = api_client(rita).get("/api/v1/tasks", {"search": str(tasks["other"].pk)})

    assert [t["id"] for t in response.json()["results"]] == [str(tasks["other"].pk)]


def test_search_never_reaches_past_what_the_caller_sees(mallory, tasks):
    response = api_client(mallory).get("/api/v1/tasks", {"search": "quarterly"})

    assert response.json()["results"] == []


def test_a_nul_character_is_a_400_naming_search(rita):
    response = api_client(rita).get("/api/v1/tasks", {"search": "a\x00b"})

    assert response.status_code == 400 and "search" in response.json()
