"""apps.tasks stands below staff, assignment and approvals: it imports none of them, and
they extend its task type and task admin through apps.tasks.extensions, never by replacing
its admin classes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.contrib import admin

from apps.tasks.admin import TaskAdmin, TaskTypeAdmin
from apps.tasks.models import Task, TaskType

APPS = Path(__file__).resolve().parents[2] / "apps"
HIGHER = ("apps.staff", "apps.assignment", "apps.approvals")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_apps_tasks_imports_no_higher_app():
    offending = [
        f"{path.relative_to(APPS.parent)}: {module}"
        for path in sorted((APPS / "tasks").rglob("*.py"))
        for module in sorted(imported_modules(path))
        if module.startswith(HIGHER)
    ]
    assert offending == []


def test_no_app_replaces_another_apps_admin():
    calls = [str(path.relative_to(APPS.parent)) for path in sorted(APPS.rglob("*.py"))
             if "unregister" in path.read_text()]
    assert calls == []
    assert type(admin.site.get_model_admin(Task)) is TaskAdmin
    assert type(admin.site.get_model_admin(TaskType)) is TaskTypeAdmin


@pytest.mark.django_db
def test_the_task_admin_shows_what_other_apps_contribute(olga, rf):
    from apps.approvals.admin import ApprovalRequestInline
    from apps.staff.admin import RequiredSkillInline

    request = rf.get("/admin/")
    request.user = olga
    task_admin = admin.site.get_model_admin(Task)
    assert ApprovalRequestInline in task_admin.get_inlines(request, None)
    assert "reassign_selected" in task_admin.get_actions(request)
    assert {"cancel_selected", "retry_selected"} <= set(task_admin.get_actions(request))
    type_admin = admin.site.get_model_admin(TaskType)
    assert RequiredSkillInline in type_admin.get_inlines(request, None)
