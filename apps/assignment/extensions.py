"""What apps.assignment adds to other apps' objects, through apps.tasks.extensions: a task
type's assignment policy (its API fields, their writes, its admin inline and list column) and
the task admin's bulk reassign."""

from __future__ import annotations

from typing import Any

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
    from apps.tasks.extensions import (
        TaskAdminContribution,
        TaskTypeContribution,
        contribute_to_task_admin,
        contribute_to_task_type,
    )

    from .admin import AssignmentPolicyInline, reassign_selected, strategy_column
    from .api.serializers import AssignmentPolicyFields
    from .selectors import policy_of

    contribute_to_task_type(TaskTypeContribution(
        app="assignment", order=20,
        fields=lambda: AssignmentPolicyFields().get_fields(),
        read=policy_of, write=_write_policy, after=AFTER,
        prefetch=("assignment_policy",),
        admin_inlines=(AssignmentPolicyInline,), admin_columns=(strategy_column,),
    ))
    contribute_to_task_admin(TaskAdminContribution(
        app="assignment", order=20, actions=(reassign_selected,)))


def _write_policy(*, task_type, values: dict[str, Any], created: bool, by) -> None:
    from .services import assignment_policy_set

    # A new type gets its row even with nothing given: its defaults, written down.
    assignment_policy_set(task_type=task_type, by=by, **values)
