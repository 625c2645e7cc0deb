"""/metrics: hand-overs by strategy, the unassignable queue and staff load against capacity,
after real runs of the engine."""

from __future__ import annotations

import pytest

from apps.assignment import services
from tests.builders import create_task, make_staff, make_task_type, make_team, require
from tests.metrics import Metrics, samples, value

pytestmark = pytest.mark.django_db


def test_engine_hand_overs_count_by_strategy(margaret, client, settings,
                                             django_capture_on_commit_callbacks):
    balanced = make_task_type("balanced", strategy="least_loaded")
    rotating = make_task_type("rotating", strategy="round_robin")
    make_staff("ann", capacity=5)
    for kind in (balanced, balanced, rotating):
        create_task(by=margaret, task_type=kind)
    metrics = Metrics(client, settings)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.assign_queued().assigned == 3

    assert metrics.added("taskmanage_assignments_total", strategy="least_loaded") == 2
    assert metrics.added("taskmanage_assignments_total", strategy="round_robin") == 1


def test_unassignable_tasks_and_staff_load_by_team_from_the_snapshot(margaret, client,
                                                                     settings):
    kind = make_task_type("plain", strategy="least_loaded")
    cobol = require(make_task_type("cobol"), {"cobol": 5})
    team = make_team("night shift")
    make_staff("ann", capacity=3, team=team)
    make_staff("ben", capacity=2, team=team)
    create_task(by=margaret, task_type=kind)
    create_task(by=margaret, task_type=cobol)
    services.assign_queued()

    text = Metrics(client, settings).now(snapshot=True)

    assert value(text, "taskmanage_tasks_unassignable") == 1
    labels = {"team": "night shift", "availability": "active"}
    assert value(text, "taskmanage_staff_members", **labels) == 2
    assert value(text, "taskmanage_staff_capacity", **labels) == 5
    # The plain task went to someone, whichever team they are in.
    assert sum(v for (name, _), v in samples(text).items()
               if name == "taskmanage_staff_load") == 1
