"""Sharded tasks: one task done as N shards by the execution units, and finished when they are.

A task created with `shard_count` N (a unit type's task), or any task of a type whose strategy
is `sharding_broadcast` (one shard per eligible online unit when it names no count), is split
when it is queued: N child tasks with `parent`, `shard_index` 0..N-1 and `shard_count` N, the
parent's payload, priority, reference and labels; the parent goes `running` (`split`) and
nobody holds it. Its shards are routed like any work of the type (`sharding_broadcast`
spreads them one per unit).

The parent follows its shards (`shards_follow`, called after every transition is written):
- every shard completed: the parent completes (`join`) with their results reduced
  (`strategy_params.reduce`, apps.execution.reducers; default `collect`, the list);
- a shard failed for good (its retries spent) or was cancelled: by the type's
  `strategy_params.on_shard_failure`, `fail` (the default: the parent fails, the open shards
  are cancelled) or `wait` (the parent waits for the shard to be retried by hand);
- meanwhile the parent's progress is the share of shards completed.
A shard's retryable failure retries that shard alone. Retrying a failed parent runs again
only its shards that did not complete. Cancelling the parent cancels its open shards.

Every step runs in the transaction of the transition that caused it, under the parent's row
lock: shards completing at once on different units settle the parent one after the other,
and the last one sees every other's result.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.db.models import Q

from apps.assignment.selectors import policy_of
from apps.core.actors import Actor
from apps.tasks import services as task_services
from apps.tasks.models import Task
from apps.tasks.states import OPEN_STATES, RETRYABLE_STATES, TERMINAL_STATES, TaskStatus

from .models import ExecutionUnit, UnitStatus
from .reducers import ReduceError, reduce_results
from .routing import UnitFilters, candidate_of, eligible_units
from .selectors import unit_queue_of

S = TaskStatus
SHARDS = Actor.system("shards")
SPLIT_BATCH = 50  # parents one run splits at most; the next run takes the rest
UNSETTLED = (S.FAILED, S.CANCELLED, S.REJECTED)  # a shard's ends that are not a result


def shards_split_waiting(*, task_type_ids: Sequence[int], broadcast_type_ids: Sequence[int] = (),
                         by: Actor = SHARDS) -> int:
    """Split the queued sharded parents of these types (of `broadcast_type_ids`, every queued
    task that is not a shard); rows another run holds are skipped. Returns how many."""
    wanted = Q(task_type_id__in=task_type_ids, shard_count__isnull=False)
    if broadcast_type_ids:
        wanted |= Q(task_type_id__in=broadcast_type_ids, parent__isnull=True)
    # No savepoint inside a claim's transaction: this runs on every claim, and a failure
    # here fails the claim anyway.
    with transaction.atomic(savepoint=False):
        parents = list(Task.objects.filter(wanted, status=S.QUEUED, shard_index__isnull=True)
                       .select_for_update(skip_locked=True, of=("self",))
                       .select_related("task_type").order_by("-priority", "queued_at", "pk")
                       [:SPLIT_BATCH])
        for parent in parents:
            _split(parent, by=by)
    return len(parents)


def _split(parent: Task, *, by: Actor) -> None:
    shards = list(parent.children.filter(shard_index__isnull=False)
                  .select_for_update(of=("self",)).select_related("task_type")
                  .order_by("shard_index"))
    if shards:  # a retried parent: only what did not complete runs again
        count = parent.shard_count or len(shards)
        again = [s for s in shards if s.status in RETRYABLE_STATES]
        for shard in again:
            task_services.task_apply_locked(task=shard, transition="retry", by=by,
                                            reason="its parent was retried")
        reason = f"running again: {len(again)} of {count} shards retried"
    else:
        count = parent.shard_count or _broadcast_count(parent)
        specs = [_shard_spec(parent, index, count) for index in range(count)]
        task_services.tasks_create_batch(specs=specs, by=by)
        reason = f"split into {count} shards"
    parent.shard_count = count  # a broadcast's count is known now; saved with the split
    task_services.task_apply_locked(task=parent, transition="split", by=by, reason=reason)
    if shards and all(s.status == S.COMPLETED for s in shards):
        _settle(parent, by=by)  # nothing left to run: done now, not never


def _broadcast_count(parent: Task) -> int:
    """One shard per online unit serving the type that passes its filters (at least one)."""
    task_type = parent.task_type
    queue = unit_queue_of(task_type=task_type)
    units = ExecutionUnit.objects.filter(status=UnitStatus.ONLINE,
                                         unit_type__in=[task_type.key, *queue.unit_types])
    filters = UnitFilters.from_params(policy_of(task_type=task_type).strategy_params or {})
    eligible = eligible_units((candidate_of(u) for u in units), weight=0, labels=filters.labels,
                              min_free_memory_mb=filters.min_free_memory_mb,
                              min_cpu_free=filters.min_cpu_free)
    return max(len(eligible), 1)


def _shard_spec(parent: Task, index: int, count: int) -> task_services.TaskSpec:
    suffix = f" [shard {index + 1}/{count}]"
    return task_services.TaskSpec(
        title=parent.title[:300 - len(suffix)] + suffix, task_type=parent.task_type,
        priority=parent.priority, payload=parent.payload, reference=parent.reference,
        labels=parent.labels, due_at=parent.due_at, parent_id=parent.pk, shard_index=index,
        shard_count=count)


# --- following the shards -------------------------------------------------------------------
def shards_follow(tasks: list[Task], by: Actor) -> None:
    """A written-transition listener (apps.execution.hooks): a shard that ended settles its
    parent; a parent that ended without its shards (cancelled) cancels the open ones."""
    parent_ids = sorted({t.parent_id for t in tasks if t.shard_index is not None
                         and t.parent_id is not None and t.status in TERMINAL_STATES})
    ended = [t for t in tasks if t.shard_index is None and t.shard_count is not None
             and t.status in (S.CANCELLED, S.FAILED)]
    for parent in ended:
        _cancel_open_shards(parent, by=by, reason=f"its parent was {parent.status}")
    if not parent_ids:
        return
    parents = (Task.objects.filter(pk__in=parent_ids, status=S.RUNNING, shard_index__isnull=True,
                                   shard_count__isnull=False)
               .select_for_update(of=("self",)).select_related("task_type").order_by("pk"))
    for parent in parents:
        # The system moves the parent: the unit that reported a shard holds only the shard.
        _settle(parent, by=SHARDS)


def _settle(parent: Task, *, by: Actor) -> None:
    shards = list(parent.children.filter(shard_index__isnull=False).order_by("shard_index")
                  .values_list("shard_index", "status", "result", "error"))
    params = policy_of(task_type=parent.task_type).strategy_params or {}
    lost = [(i, status, error) for i, status, _, error in shards if status in UNSETTLED]
    if lost and params.get("on_shard_failure", "fail") == "fail":
        index, status, error = lost[0]
        _fail(parent, by=by, error=f"shard {index + 1}/{parent.shard_count} {status}"
                                   + (f": {error}" if error else ""))
        return
    done = [result for _, status, result, _ in shards if status == S.COMPLETED]
    if lost or len(done) < parent.shard_count:
        task_services.task_report_progress(
            task=parent, progress=100 * len(done) // parent.shard_count, by=by)
        return
    try:
        result = reduce_results(params.get("reduce", "collect"), done)
    except (ReduceError, ValueError, TypeError) as exc:
        _fail(parent, by=by, error=f"reduce {params.get('reduce', 'collect')}: {exc}")
        return
    task_services.task_apply_locked(task=parent, transition="join", by=by, result=result,
                                    reason=f"all {parent.shard_count} shards completed")


def _fail(parent: Task, *, by: Actor, error: str) -> None:
    task_services.task_apply_locked(task=parent, transition="fail_shards", by=by,
                                    reason=error[:300], error=error)


def _cancel_open_shards(parent: Task, *, by: Actor, reason: str) -> None:
    open_shards = (parent.children.filter(shard_index__isnull=False,
                                          status__in=sorted(OPEN_STATES))
                   .select_for_update(of=("self",)).select_related("task_type").order_by("pk"))
    for shard in open_shards:
        task_services.task_apply_locked(task=shard, transition="cancel", by=by, reason=reason)
