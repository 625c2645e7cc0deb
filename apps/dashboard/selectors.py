"""What the pages read, built on the domain apps' own selectors and policies."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import QuerySet

from apps.accounts.roles import sees_all_tasks
from apps.approvals.models import ApprovalRequest, ApprovalStatus
from apps.approvals.policies import allowed_actions as approval_actions
from apps.approvals.selectors import approval_counts, approvals_visible_to
from apps.assignment.models import Assignment
from apps.staff.models import Leave
from apps.staff.selectors import tasks_for_me
from apps.tasks import services as task_services
from apps.tasks.models import Task, TaskHistory, TaskLog
from apps.tasks.policies import API_ACTIONS, may_act
from apps.tasks.selectors import task_counts_by_status, task_history, tasks_visible_to
from apps.tasks.states import TaskStatus

S = TaskStatus
# The log lines a task page shows: the latest ones (the API pages through all of them).
LOG_TAIL = 200
# Counting tasks by status reads the whole table: the dashboard shares one answer for this
# many seconds across every viewer and process instead of counting per page view.
COUNTS_CACHE_SECONDS = 10
INBOX_LIMIT = 100


def task_list(*, user) -> QuerySet[Task]:
    """The tasks `user` sees, joined with what a row of the list shows (no query per row)."""
    return tasks_visible_to(user=user).select_related("created_by")


def task_for_page(*, user, pk) -> Task | None:
    return task_list(user=user).filter(pk=pk).first()


def task_buttons(*, user, task: Task) -> list[str]:
    """The transitions `user` may ask for on `task` now: exactly what the API would accept,
    by the API's own two rules (the policy, then the state machine among the API's actions)."""
    possible = task_services.allowed_actions(task=task, among=API_ACTIONS)
    return [a for a in API_ACTIONS if a in possible and may_act(user, task, a)]


def may_report(*, user, task: Task) -> dict[str, bool]:
    """Progress (running work only, as the service insists) and log lines."""
    return {
        "progress": task.status == S.RUNNING and may_act(user, task, "progress"),
        "log": may_act(user, task, "log"),
    }


@dataclass
class TaskPage:
    task: Task
    history: list[TaskHistory]
    logs: list[TaskLog]
    assignments: list[Assignment]
    approvals: list[tuple[ApprovalRequest, list[str]]]
    buttons: list[str]
    reports: dict[str, bool]


def task_page(*, user, task: Task) -> TaskPage:
    """Everything the task page shows, in a fixed number of queries."""
    logs = list(task.logs.order_by("-id")[:LOG_TAIL])[::-1]
    approvals = [
        (request, approval_actions(user, request))
        for request in approvals_visible_to(user=user).filter(task=task).order_by("created_at")
    ]
    return TaskPage(
        task=task,
        history=list(task_history(task=task)),
        logs=logs,
        assignments=list(task.assignments.select_related("assignee_user", "delegated_from")
                         .order_by("created_at", "id")),
        approvals=approvals,
        buttons=task_buttons(user=user, task=task),
        reports=may_report(user=user, task=task),
    )


def log_lines_after(*, task: Task, after: int) -> list[TaskLog]:
    """The task's log lines after line `after`, oldest first, at most a tail's worth: what a
    live page appends when it hears lines were added."""
    return list(task.logs.filter(pk__gt=after).order_by("id")[:LOG_TAIL])


def my_tasks(*, user) -> list[tuple[Task, list[str], dict[str, bool]]]:
    """The caller's own open work, each with what they may do with it."""
    rows = tasks_for_me(user=user).order_by("-priority", "created_at")
    return [(t, task_buttons(user=user, task=t), may_report(user=user, task=t)) for t in rows]


def my_leaves(*, staff) -> QuerySet[Leave]:
    return staff.leaves.select_related("substitute__user").order_by("-start")[:20]


def inbox(*, user, filterset_qs: QuerySet[ApprovalRequest] | None = None):
    """Pending requests `user` sees, oldest first, each with what they may do about it."""
    qs = filterset_qs if filterset_qs is not None else approvals_visible_to(user=user)
    rows = qs.filter(status=ApprovalStatus.PENDING).order_by("created_at", "pk")[:INBOX_LIMIT]
    return [(r, approval_actions(user, r)) for r in rows]


def approval_for_page(*, user, pk: int) -> ApprovalRequest | None:
    return approvals_visible_to(user=user).filter(pk=pk).first()


def dashboard_figures(*, user) -> dict:
    """The counts the dashboard shows: the whole system's for managers and admins (shared,
    cached), and the caller's own work for everyone."""
    figures: dict = {"mine": tasks_for_me(user=user).count()}
    if sees_all_tasks(user):
        figures["by_status"] = cache.get_or_set(
            "dashboard:task-counts", task_counts_by_status, COUNTS_CACHE_SECONDS)
        figures["approvals"] = cache.get_or_set(
            "dashboard:approval-counts", approval_counts, COUNTS_CACHE_SECONDS)
    figures["inbox"] = (approvals_visible_to(user=user)
                        .filter(status=ApprovalStatus.PENDING).count())
    return figures
