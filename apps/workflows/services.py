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
from apps.tasks.services import TaskSpec, tasks_cancel_locked, tasks_create_batch
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
    cancel every open task downstream of them in their own `cancel_downstream` workflow, each
    with the reason. Three statements whatever the graph's size: the workflow's dependants
    found by one recursive query, locked in one, cancelled in one batch (one UPDATE, one
    history INSERT). Returns how many were cancelled."""
    if _propagating.get():
        return 0
    ended_as = {t.pk: t.status for t in ended}
    reasons = {task_id: f"workflow {name!r}: {key} ended {ended_as[origin]}"
               for task_id, origin, key, name in _downstream_of(list(ended_as))}
    if not reasons:
        return 0
    victims = list(Task.objects.filter(pk__in=list(reasons), status__in=OPEN_STATES)
                   .select_for_update(of=("self",)).select_related("task_type")
                   .order_by("pk"))  # a fixed lock order, as the task services lock
    # Their own cancellations call the listener again: everything below was found already.
    token = _propagating.set(True)
    try:
        tasks_cancel_locked(items=[(t, reasons[t.pk]) for t in victims], by=by)
    finally:
        _propagating.reset(token)
    return len(victims)


def _downstream_of(task_ids: Sequence) -> list[tuple]:
    """(task, the ended task it is below, that task's key, the workflow's name) for every
    task of the same `cancel_downstream` workflow depending on one of `task_ids`, directly or
    not: one recursive query however deep or wide the graph. The walk stays inside each
    workflow: a task created later outside it, depending on one of its tasks, follows its own
    rules. UNION, not UNION ALL: a diamond's task is reached once per ended task; the first
    by key is kept."""
    if not task_ids:
        return []
    pk = Task._meta.pk
    links = Task.depends_on.through._meta.db_table
    nodes, flows = WorkflowNode._meta.db_table, Workflow._meta.db_table
    marks = ", ".join(["%s"] * len(task_ids))
    sql = (
        f'WITH RECURSIVE down(id, origin, workflow_id) AS ('
        f'SELECT l.from_task_id, l.to_task_id, n.workflow_id FROM "{links}" l '
        f'JOIN "{nodes}" n ON n.task_id = l.to_task_id '
        f'JOIN "{flows}" w ON w.id = n.workflow_id AND w.on_failure = %s '
        f'JOIN "{nodes}" m ON m.task_id = l.from_task_id AND m.workflow_id = n.workflow_id '
        f'WHERE l.to_task_id IN ({marks}) '
        f'UNION SELECT l.from_task_id, down.origin, down.workflow_id FROM down '
        f'JOIN "{links}" l ON l.to_task_id = down.id '
        f'JOIN "{nodes}" m ON m.task_id = l.from_task_id AND m.workflow_id = down.workflow_id'
        f') SELECT down.id, down.origin, o.key, w.name FROM down '
        f'JOIN "{nodes}" o ON o.task_id = down.origin JOIN "{flows}" w ON w.id = down.workflow_id '
        f'ORDER BY down.id, o.key')
    params = [OnFailure.CANCEL_DOWNSTREAM,
              *(pk.get_db_prep_value(i, connection) for i in task_ids)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found: dict = {}
    for task_id, origin, key, name in rows:
        found.setdefault(pk.to_python(task_id), (pk.to_python(origin), key, name))
    return [(task_id, *rest) for task_id, rest in found.items()]
