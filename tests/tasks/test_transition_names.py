"""The vocabulary other apps match transitions by is exactly the model's transitions."""

from __future__ import annotations

from apps.tasks.models import Task
from apps.tasks.services import ACTIONS
from apps.tasks.states import Transition


def test_the_transition_enum_names_every_model_transition_and_nothing_else():
    on_the_model = {t.name for t in Task().get_all_status_transitions()}

    assert on_the_model == set(Transition.values)


def test_every_action_callers_name_stands_for_model_transitions():
    named = {transition for transitions in ACTIONS.values() for transition in transitions}

    assert named <= set(Transition.values)
