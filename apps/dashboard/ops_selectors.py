"""What the schedules, workflows and dead-letters pages read, on the domain apps' own selectors
and policies (the API's), each in a fixed number of queries whatever the rows.

A module beside selectors.py so that the pages built in parallel do not all edit one file;
its public functions are keyword-only like any selector's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from apps.schedules import policies as schedule_policies
from apps.schedules.models import Kind, Schedule, Spawn
from apps.schedules.selectors import schedules_with_last_spawn
from apps.schedules.services import next_runs
from apps.tasks.models import Task
from apps.tasks.policies import may_act
from apps.tasks.selectors import dead_letters, tasks_visible_to
from apps.workflows.models import Workflow
from apps.workflows.selectors import (
    Node,
    progress_of,
    status_of,
    workflow_graph,
    workflows_visible_to,
)

from .graph_layout import Layout, layout

# A list page shows at most this many rows (schedules by name, workflows and dead letters
# newest first) and says so when there are more: no COUNT(*) and no OFFSET.
SCHEDULES_LIMIT = 500
WORKFLOWS_LIMIT = 200
# Dead letters: a row is a form with its buttons, and rendering 200 of them took ~100 ms at
# 1,000,000 tasks; 50 at a time, narrowed by the filters, keeps the page well under 200 ms.
DEAD_LETTERS_LIMIT = 50
NEXT_RUNS = 5  # the API's default count for GET /api/v1/schedules/<id>/next
SPAWNS_SHOWN = 20


# --- schedules ------------------------------------------------------------------------------
def describe_when(*, schedule: Schedule) -> str:
    """The schedule's "when" in words, with its zone where it matters (a cron's)."""
    kind = schedule.kind
    if kind == Kind.CRON:
        return f"cron {schedule.cron} ({schedule.timezone})"
    if kind == Kind.INTERVAL:
        return f"every {_duration(schedule.interval_seconds)}"
    if kind == Kind.DELAY:
        return f"{_duration(schedule.delay_seconds)} after the previous task ends"
    return f"once at {schedule.run_once_at:%Y-%m-%d %H:%M} UTC"


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@dataclass
class ScheduleRow:
    schedule: Schedule
    when: str
    next_run: datetime | None  # in the schedule's zone; None when disabled or never again


def _next_run(schedule: Schedule) -> datetime | None:
    # The API's next_run_at (ScheduleSerializer): none while disabled.
    if not schedule.enabled:
        return None
    found = next_runs(schedule=schedule, count=1)
    return found[0] if found else None


def schedule_rows(*, user) -> tuple[list[ScheduleRow], bool]:
    """Schedules by name (the first SCHEDULES_LIMIT) with their next run and last spawn, from
    the API's own list query: its prefetch gives a fixed-delay schedule's last spawn, so the
    list costs the same queries at any size. And whether there were more."""
    rows = list(schedules_with_last_spawn()[:SCHEDULES_LIMIT + 1])
    return ([ScheduleRow(schedule=s, when=describe_when(schedule=s), next_run=_next_run(s))
             for s in rows[:SCHEDULES_LIMIT]], len(rows) > SCHEDULES_LIMIT)


@dataclass
class SchedulePage:
    schedule: Schedule
    when: str
    next_runs: list[datetime]
    spawns: list[Spawn]
    visible_tasks: set  # ids of spawned tasks the user may open
    may_manage: bool


def schedule_for_page(*, pk: int) -> Schedule | None:
    return schedules_with_last_spawn().filter(pk=pk).first()


def schedule_page(*, user, schedule: Schedule) -> SchedulePage:
    """The next runs as GET /api/v1/schedules/<id>/next answers them (services.next_runs,
    enabled or not), and the latest spawns, linked to the tasks the user may see."""
    spawns = list(schedule.spawns.select_related("task").order_by("-planned_time")
                  [:SPAWNS_SHOWN])
    task_ids = [s.task_id for s in spawns if s.task_id is not None]
    visible = set(tasks_visible_to(user=user).filter(pk__in=task_ids)
                  .values_list("pk", flat=True)) if task_ids else set()
    return SchedulePage(
        schedule=schedule, when=describe_when(schedule=schedule),
        next_runs=next_runs(schedule=schedule, count=NEXT_RUNS), spawns=spawns,
        visible_tasks=visible, may_manage=schedule_policies.may_manage(user),
    )


# --- workflows ------------------------------------------------------------------------------
@dataclass
class WorkflowRow:
    workflow: Workflow
    status: str
    done: int
    total: int


def workflow_rows(*, user) -> tuple[list[WorkflowRow], bool]:
    """The workflows the API lists for `user`, newest first, with status and progress from
    the same counts (one query for the page)."""
    rows = list(workflows_visible_to(user=user)[:WORKFLOWS_LIMIT + 1])
    return ([_workflow_row(w) for w in rows[:WORKFLOWS_LIMIT]],
            len(rows) > WORKFLOWS_LIMIT)


def _workflow_row(workflow: Workflow) -> WorkflowRow:
    progress = progress_of(workflow=workflow)
    return WorkflowRow(workflow=workflow, status=status_of(workflow=workflow),
                       done=progress["done"], total=progress["total"])


def workflow_for_page(*, user, pk: int) -> Workflow | None:
    """The workflow if `user` sees it (the API's rule: one of its tasks is theirs to see)."""
    return workflows_visible_to(user=user).filter(pk=pk).first()


@dataclass
class DrawnNode:
    node: Node
    x: int
    y: int


@dataclass
class WorkflowPage:
    row: WorkflowRow
    nodes: list[DrawnNode]
    layout: Layout
    edges: list[tuple[str, str]]


def workflow_page(*, user, workflow: Workflow) -> WorkflowPage:
    """The graph as the API gives it to `user` (nodes they may not see by key and status only),
    laid out for drawing."""
    nodes, edges = workflow_graph(workflow=workflow, user=user)
    drawn = layout(keys=[n.key for n in nodes], edges=edges)
    placed = [DrawnNode(node=n, x=drawn.nodes[n.key].x, y=drawn.nodes[n.key].y) for n in nodes]
    return WorkflowPage(row=_workflow_row(workflow), nodes=placed, layout=drawn, edges=edges)


# --- dead letters ---------------------------------------------------------------------------
def dead_letters_for(*, user, task_type_key: str | None = None,
                     since: datetime | None = None) -> QuerySet[Task]:
    """Tasks failed for good that `user` sees (the API's visibility rule), newest first."""
    shown = tasks_visible_to(user=user) & dead_letters(task_type_key=task_type_key, since=since)
    # A failed task always has finished_at; saying so lets PostgreSQL read the newest ones
    # backwards off the partial `task_finished_idx` (status, finished_at) and stop after a
    # page, instead of sorting every failed task (~30,000 at 1,000,000 rows: 110 ms).
    return (shown.filter(finished_at__isnull=False).select_related("created_by")
            .order_by("-finished_at", "-pk"))


def dead_letter_rows(*, user, task_type_key: str | None = None,
                     since: datetime | None = None) -> tuple[list[tuple[Task, bool]], bool]:
    """The newest DEAD_LETTERS_LIMIT dead letters `user` sees, each with whether they may
    replay it (the API's rule for POST /api/v1/tasks/<id>/retry), and whether there are more."""
    rows = list(dead_letters_for(user=user, task_type_key=task_type_key, since=since)
                [:DEAD_LETTERS_LIMIT + 1])
    return ([(t, may_act(user, t, "retry")) for t in rows[:DEAD_LETTERS_LIMIT]],
            len(rows) > DEAD_LETTERS_LIMIT)


def tasks_to_replay(*, user, task_ids) -> list[Task]:
    """The tasks among `task_ids` that `user` sees (whatever their status: one replayed
    meanwhile is skipped by the service, not refused here)."""
    return list(tasks_visible_to(user=user).filter(pk__in=list(task_ids)))
