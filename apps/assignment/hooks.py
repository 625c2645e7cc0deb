"""The assignment app's hooks, registered in AppConfig.ready: it dispatches staff work and
keeps its records in step with every task transition."""

from __future__ import annotations

from apps.tasks.dispatch import register_dispatcher
from apps.tasks.holding import HookOrder, on_transition
from apps.tasks.states import AssigneeKind

from . import services


def register() -> None:
    # After the staff app's capacity guard: a refused hand-over has nothing to undo here.
    on_transition(services.assignments_follow_task, order=HookOrder.RECORD)
    register_dispatcher(AssigneeKind.STAFF, services.assign_dispatched)
