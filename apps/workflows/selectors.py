"""Reads shared by the API, the admin and the management command."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet

from apps.core.actors import Actor
from apps.tasks.models import Task
from apps.tasks.selectors import tasks_visible_to
from apps.tasks.states import HELD_STATES
from apps.tasks.states import TaskStatus as S

from .models import Workflow, WorkflowNode, WorkflowStatus

_COUNTED = {"completed": S.COMPLETED, "failed": S.FAILED, "cancelled": S.CANCELLED,
            "rejected": S.REJECTED, "blocked": S.BLOCKED}


def with_counts(*, qs: QuerySet[Workflow]) -> QuerySet[Workflow]:
    """Annotate each workflow with its task counts (total and by status): one query."""
    return qs.annotate(
        n_total=Count("nodes"),
        **{f"n_{name}": Count("nodes", filter=Q(nodes__task__status=status))
           for name, status in _COUNTED.items()},
    ).order_by("-created_at", "-id")  # a GROUP BY query drops Meta.ordering


def set_counts(*, workflow: Workflow, statuses: list[str]) -> Workflow:
    """The counts with_counts would read, from statuses at hand (a workflow just created)."""
    workflow.n_total = len(statuses)
    for name, status in _COUNTED.items():
        setattr(workflow, f"n_{name}", statuses.count(status))
    return workflow


def status_of(*, workflow: Workflow) -> str:
    """A workflow's status from its counts (see with_counts)."""
    total, done = workflow.n_total, workflow.n_completed
    bad = workflow.n_failed + workflow.n_cancelled + workflow.n_rejected
    open_ = total - done - bad
    if done == total:
        return WorkflowStatus.COMPLETED
    if open_ == 0:
        failed = workflow.n_failed + workflow.n_rejected
        return WorkflowStatus.FAILED if failed else WorkflowStatus.CANCELLED
    if bad and open_ == workflow.n_blocked:
        return WorkflowStatus.STALLED
    return WorkflowStatus.RUNNING


def progress_of(*, workflow: Workflow) -> dict[str, int]:
    return {"done": workflow.n_completed, "total": workflow.n_total}


def workflows_visible_to(*, user) -> QuerySet[Workflow]:
    """Workflows with at least one task the user may see, with their counts."""
    visible = tasks_visible_to(user=user).filter(workflow_node__workflow=OuterRef("pk"))
    return with_counts(qs=Workflow.objects.filter(Exists(visible)).select_related("created_by"))


@dataclass(frozen=True)
class NodeTask:
    """What a graph shows of a node's task: read as values, since a thousand whole Task
    objects (payloads, results, timestamps) cost most of a large graph's page."""

    pk: uuid.UUID
    title: str
    status: str
    task_type_key: str


@dataclass(frozen=True)
class Node:
    key: str
    task: NodeTask
    waits_for: list[str]  # keys of its dependencies that have not completed
    depends_on: list[str]
    visible: bool = True  # may the caller see the task itself (its title, type, id)?


def workflow_graph(*, workflow: Workflow, user=None) -> tuple[list[Node], list[tuple[str, str]]]:
    """Its nodes (with their tasks) and edges [before, after], in creation order: two
    queries, and a third with `user`: which tasks that user may see (a workflow is shown to
    whoever sees one of its tasks; the others are shown by key and status only)."""
    rows = workflow.nodes.order_by("id").values_list(
        "key", "task_id", "task__title", "task__status", "task__task_type__key")
    tasks = {key: NodeTask(pk=pk, title=title, status=status, task_type_key=type_key)
             for key, pk, title, status, type_key in rows}
    visible = None
    if user is not None:
        visible = set(tasks_visible_to(user=user).filter(workflow_node__workflow=workflow)
                      .values_list("pk", flat=True))
    key_of = {t.pk: key for key, t in tasks.items()}
    # Joined to the workflow, not `IN (…every task id…)`: a thousand parameters cost more to
    # send than the query costs to run.
    links = (Task.depends_on.through.objects
             .filter(from_task__workflow_node__workflow=workflow).order_by("id"))
    edges = [(key_of[before], key_of[after])
             for after, before in links.values_list("from_task_id", "to_task_id")
             if before in key_of]
    deps: dict[str, list[str]] = {key: [] for key in tasks}
    for before, after in edges:
        deps[after].append(before)
    return [Node(key=key, task=task, depends_on=deps[key],
                 waits_for=[d for d in deps[key] if tasks[d].status != S.COMPLETED],
                 visible=visible is None or task.pk in visible)
            for key, task in tasks.items()], edges


def node_for(*, workflow: Workflow, key: str) -> WorkflowNode | None:
    return workflow.nodes.select_related("task").filter(key=key).first()


def node_inputs(*, node: WorkflowNode) -> tuple[dict, list[str]]:
    """The results of the node's dependencies that completed, by their keys, and the keys of
    those that have not."""
    deps = (WorkflowNode.objects.filter(task__dependents=node.task_id)
            .select_related("task").order_by("key"))
    inputs = {d.key: d.task.result for d in deps if d.task.status == S.COMPLETED}
    waiting = [d.key for d in deps if d.task.status != S.COMPLETED]
    return inputs, waiting


# --- a workflow task's inputs in the task's own answers (apps.tasks.extensions) -------------
INPUTS_ATTR = "workflow_inputs"


def inputs_load(tasks, *, user) -> None:
    """Set each task's inputs (its completed dependencies' results by their keys; {} while
    none has completed; None for a task outside a workflow or without dependencies), for
    every task at once in one query, none when no task has dependencies. A unit is shown
    the inputs of the tasks it holds only, as on the inputs endpoint."""
    for task in tasks:
        setattr(task, INPUTS_ATTR, None)
    by = Actor.for_user(user) if user is not None else None
    asked = {t.pk: t for t in tasks if _has_dependencies(t) and _may_read(t, by)}
    if not asked:
        return
    links = (Task.depends_on.through.objects
             .filter(from_task_id__in=list(asked),
                     to_task__workflow_node__workflow=F("from_task__workflow_node__workflow"))
             .order_by("to_task__workflow_node__key")
             .values_list("from_task_id", "to_task__workflow_node__key", "to_task__status",
                          "to_task__result"))
    for task_id, key, status, result in links:
        inputs = getattr(asked[task_id], INPUTS_ATTR)
        if inputs is None:
            inputs = {}
            setattr(asked[task_id], INPUTS_ATTR, inputs)
        if status == S.COMPLETED:
            inputs[key] = result


def inputs_read(task) -> dict | None:
    return getattr(task, INPUTS_ATTR, None)


def _has_dependencies(task: Task) -> bool:
    """From what the task's loading read already; True (ask) when it read nothing."""
    known = getattr(task, "depends_on_ids", None)  # a unit's claim sets it
    if known is not None:
        return bool(known)
    prefetched = getattr(task, "_prefetched_objects_cache", {})  # the task detail's prefetch
    if "depends_on" in prefetched:
        return bool(prefetched["depends_on"])
    return True


def _may_read(task: Task, by: Actor | None) -> bool:
    if by is None or by.kind != "unit":
        return True  # whoever was shown the task
    return task.assignee_unit_id == by.ref and task.status in HELD_STATES
