"""The assignment app's hooks, registered in AppConfig.ready: it dispatches staff work, keeps
its records in step with every task transition, and serves a task type's assignment policy
(API fields, their writes, the admin inline and list column) and the task admin's bulk
reassign through apps.tasks.extensions."""

from __future__ import annotations

from typing import Any

from apps.core.events import subscribe
from apps.tasks.dispatch import register_dispatcher
from apps.tasks.extensions import (
    TaskAdminContribution,
    TaskTypeContribution,
    contribute_to_task_admin,
    contribute_to_task_type,
)
from apps.tasks.holding import HookOrder, on_transition
from apps.tasks.states import AssigneeKind

from . import metrics, services
from .admin import (
    AssignmentPolicyInline,
    assignment_panel,
    reassign_selected,
    strategy_column,
)
from .api.serializers import AssignmentPolicyFields
from .selectors import policy_of

# Where each policy field sits among the task type's own fields in the API: where it was
# when it was a column of the task type, so the schema and the answers keep their order.
AFTER = {
    "requires_assignment_confirmation": "requires_creation_approval",
    "strategy": "retry_backoff_max",
    "strategy_params": "strategy",
    "confirmation_timeout": "queue",
    "skill_timeout": "confirmation_timeout",
    "overflow_assignee": "skill_timeout",
    "leave_policy": "overflow_assignee",
}


def register() -> None:
    # After the staff app's capacity guard: a refused hand-over has nothing to undo here.
    on_transition(services.assignments_follow_task, order=HookOrder.RECORD)
    subscribe("assignments.recorded")(metrics.count_assignments)
    register_dispatcher(AssigneeKind.STAFF, services.tasks_assign_dispatched)
    contribute_to_task_type(TaskTypeContribution(
        app="assignment", order=20,
        fields=lambda: AssignmentPolicyFields().get_fields(),
        read=_policy, write=_write_policy, check=_check_policy, after=AFTER,
        prefetch=("assignment_policy",),
        admin_inlines=(AssignmentPolicyInline,), admin_columns=(strategy_column,),
    ))
    contribute_to_task_admin(TaskAdminContribution(
        app="assignment", order=20, actions=(reassign_selected,),
        panels=(("Assignment", (assignment_panel,)),)))


def _policy(task_type):
    return policy_of(task_type=task_type)


def _write_policy(*, task_type, values: dict[str, Any], created: bool, by) -> None:
    # A new type gets its row even with nothing given: its defaults, written down.
    services.assignment_policy_set(task_type=task_type, by=by, **values)


def _check_policy(*, task_type, by) -> None:
    # A type's kind may change without its policy being sent: its strategy must still fit.
    services.assignment_policy_check(task_type=task_type)
