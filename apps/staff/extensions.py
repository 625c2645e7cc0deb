"""What apps.staff adds to other apps' objects: a task type's required skills.

Registered from StaffConfig.ready through apps.tasks.extensions, so apps.tasks serves the
`required_skills` field, its admin inline and its writes without importing apps.staff.
"""

from __future__ import annotations

from typing import Any


def register() -> None:
    from apps.tasks.extensions import TaskTypeContribution, contribute_to_task_type

    from .admin import RequiredSkillInline
    from .api.fields import SkillLevelSerializer

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
    from . import services

    if "required_skills" in values:
        services.required_skills_set(task_type=task_type, skills=values["required_skills"])
