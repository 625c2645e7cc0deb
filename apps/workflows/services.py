"""Workflow changes: create a graph of tasks at once; cancel downstream of a task that ended
badly. Task state is written by apps.tasks.services only: this module calls it."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace

from django.db import connection, transaction

from apps.core.actors import Actor
from apps.core.exceptions import InvalidInput
from apps.tasks.models import Task
from apps.tasks.services import TaskSpec, task_apply_locked, tasks_create_batch
from apps.tasks.states import OPEN_STATES, TaskStatus

from .graph import check_graph
from .models import OnFailure, Workflow, WorkflowNode

# Bounds on one request's graph: a workflow is created in one transaction.
MAX_NODES = 2000
MAX_EDGES = 20000
# A task ending in one of these sends `cancel_downstream` down the graph.
ENDS_BADLY = frozenset({TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.REJECTED})


@dataclass(frozen=True)
class NodeSpec:
    key: str
    spec: TaskSpec


def workflow_create(*, name: str, on_failure: str, nodes: Sequence[NodeSpec],
                    edges: Sequence[tuple[str, str]], by: Actor) -> tuple[Workflow, list[Task]]:
    """Create the workflow and all its tasks in one transaction, through the task batch create
    (a few statements whatever the size): a task with dependencies starts `blocked`, and the
    task services release it when its last dependency completes. Returns the tasks in the
    order of `nodes`."""
    if on_failure not in OnFailure.values:
        raise InvalidInput.on("on_failure", f"Must be one of {', '.join(OnFailure.values)}.")
    if not 0 < len(nodes) <= MAX_NODES:
        raise InvalidInput.on("tasks", f"Give between 1 and {MAX_NODES} tasks.")
    if len(edges) > MAX_EDGES:
        raise InvalidInput.on("edges", f"At most {MAX_EDGES} edges.")
    check_graph(keys=[n.key for n in nodes], edges=edges)
    ids = {n.key: uuid.uuid4() for n in nodes}
    deps: dict[str, list[uuid.UUID]] = defaultdict(list)
    for before, after in edges:
        deps[after].append(ids[before])
    specs = [replace(n.spec, id=ids[n.key], depends_on=deps[n.key]) for n in nodes]
    with transaction.atomic():
        tasks, _ = tasks_create_batch(specs=specs, by=by)
        workflow = Workflow.objects.create(name=name, on_failure=on_failure,
                                           created_by=by.user)
        WorkflowNode.objects.bulk_create([
            WorkflowNode(workflow=workflow, key=n.key, task_id=ids[n.key]) for n in nodes
        ])
    return workflow, tasks


# Set while this module cancels dependants: their own cancellations call the listener again,
# and the dependants were all found already.
_propagating: ContextVar[bool] = ContextVar("workflows_propagating", default=False)


def workflows_cancel_downstream(*, ended: Sequence[Task], by: Actor) -> int:
    """Inside the transaction that wrote `ended` (tasks now failed, cancelled or rejected):
    cancel every open task downstream of them in a `cancel_downstream` workflow, with the
    reason. Returns how many were cancelled."""
    if _propagating.get():
        return 0
    nodes = list(WorkflowNode.objects.filter(
        task_id__in=[t.pk for t in ended],
        workflow__on_failure=OnFailure.CANCEL_DOWNSTREAM).select_related("workflow"))
    if not nodes:
        return 0
    status = {t.pk: t.status for t in ended}
    token = _propagating.set(True)
    try:
        return sum(_cancel_below(node, status[node.task_id], by) for node in nodes)
    finally:
        _propagating.reset(token)


def _cancel_below(node: WorkflowNode, ended_as: str, by: Actor) -> int:
    below = _downstream_of(node.task_id)
    if not below:
        return 0
    reason = f"workflow {node.workflow.name!r}: {node.key} ended {ended_as}"
    # Only the workflow's own tasks: a task created later outside it, depending on one of
    # its tasks, follows its own rules.
    victims = (Task.objects.filter(pk__in=below, status__in=OPEN_STATES,
                                   workflow_node__workflow_id=node.workflow_id)
               .select_for_update(of=("self",)).select_related("task_type")
               .order_by("pk"))  # a fixed lock order, as the task services lock
    count = 0
    for task in victims:
        task_apply_locked(task=task, transition="cancel", by=by, reason=reason)
        count += 1
    return count


def _downstream_of(task_id) -> list:
    """Every task that depends on `task_id`, directly or not: one recursive query, however
    deep the graph (UNION, not UNION ALL: a diamond's task is reached once)."""
    links = Task.depends_on.through._meta.db_table
    sql = (f'WITH RECURSIVE down(id) AS ('
           f'SELECT from_task_id FROM "{links}" WHERE to_task_id = %s '
           f'UNION SELECT l.from_task_id FROM "{links}" l JOIN down ON l.to_task_id = down.id'
           f') SELECT id FROM down')
    with connection.cursor() as cursor:
        cursor.execute(sql, [Task._meta.pk.get_db_prep_value(task_id, connection)])
        return [row[0] for row in cursor.fetchall()]
