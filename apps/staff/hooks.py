"""The staff app's hooks, registered in AppConfig.ready: its capacity guard on hand-overs, and
a task type's required skills (served on the task type's API and admin through
apps.tasks.extensions, so apps.tasks never imports this app)."""

from __future__ import annotations

from typing import Any

from apps.tasks.extensions import TaskTypeContribution, contribute_to_task_type
from apps.tasks.holding import HookOrder, on_transition

from . import services
from .admin import RequiredSkillInline
from .api.fields import SkillLevelSerializer


def register() -> None:
    # A guard: it may refuse a hand-over (no room), so it runs before any listener writes.
    on_transition(services.staff_load_follow_task, order=HookOrder.GUARD)
    contribute_to_task_type(TaskTypeContribution(
        app="staff", order=10,
        # Validated into (Skill, level) pairs; read from the prefetched rows.
        fields=lambda: {"required_skills": SkillLevelSerializer(many=True, required=False)},
        after={"required_skills": "assignee_kind"},
        write=_write_required_skills,
        prefetch=("required_skills__skill",),
        admin_inlines=(RequiredSkillInline,),
    ))


def _write_required_skills(*, task_type, values: dict[str, Any], created: bool, by) -> None:
    if "required_skills" in values:
        services.required_skills_set(task_type=task_type, skills=values["required_skills"])
