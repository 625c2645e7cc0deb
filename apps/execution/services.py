"""Every change to an execution unit, and the work units claim.

A unit's status moves only here, under its row lock, with one UnitEvent per change. Claims
take queued tasks with `FOR UPDATE SKIP LOCKED` (two units never lease the same task) and the
unit's capacity with its row lock in the same transaction (it never holds more than it may).
Heartbeats touch Redis only (apps.execution.beats); the sweep persists them, marks silent
units offline and sends their work back to the queue, and takes back expired leases.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django_fsm import can_proceed

from apps.assignment.models import AssignmentPolicy
from apps.assignment.strategies import get_strategy
from apps.core.actors import Actor
from apps.core.db import duplicates_refused, update_rows
from apps.core.events import emit
from apps.core.exceptions import Conflict, InvalidInput, PermissionDenied
from apps.tasks import services as task_services
from apps.tasks.holding import Change
from apps.tasks.models import Task, TaskType
from apps.tasks.selectors import tasks_dependencies_known
from apps.tasks.states import HELD_STATES, AssigneeKind

from . import beats, sharding
from .metrics import HEARTBEATS
from .models import LIVE_STATES, ExecutionUnit, UnitEvent, UnitQueue, UnitStatus
from .routing import PULL, SHARDING_BROADCAST, candidate_of, pick_unit
from .selectors import forget_accepting, task_types_accepting, unit_queue_of

logger = logging.getLogger(__name__)
U = UnitStatus
TOKEN_PREFIX = "tmu_"  # a unit's credential, told apart from a person's API token (tm_)
SWEEPER = Actor.system("units")
OFFLINE = "unit_offline"  # the cause tag a failover's requeue carries
LEASE_EXPIRED = "lease_expired"
DRAINED = "unit_draining"
NOT_STARTED = "not_started"
GIVEN_BACK = "given_back"
# The causes of a task going back to the queue from a unit (each counted in the metrics).
TAKEN_BACK_CAUSES = frozenset({OFFLINE, LEASE_EXPIRED, DRAINED, NOT_STARTED, GIVEN_BACK})
_UNSET: Any = object()
SWEEP_BATCH = 500  # tasks a sweep takes on at most per run; the next run takes the rest
REGISTRATION_FIELDS = ("unit_type", "name", "capacity", "endpoint", "labels",
                       "heartbeat_timeout")


def unit_actor(*, unit: ExecutionUnit) -> Actor:
    return Actor.unit(ref=unit.pk, name=unit.unit_id)


def token_hash(*, raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return raw, token_hash(raw=raw)


# --- registration and credentials -------------------------------------------------------------
@dataclass(frozen=True)
class Registration:
    unit: ExecutionUnit
    token: str  # shown once: only its hash is stored
    created: bool


@duplicates_refused()
def unit_register(*, unit_id: str, by: Actor, may_rotate: bool, **fields: Any) -> Registration:
    """Register a unit, or register an existing id again: that rotates its token and takes the
    new settings, and only an admin or the unit itself (`may_rotate`) may do it."""
    unknown = set(fields) - set(REGISTRATION_FIELDS)
    if unknown:
        raise InvalidInput(fields={n: ["This field cannot be set here."] for n in unknown})
    raw, hashed = _new_token()
    now = timezone.now()
    with transaction.atomic():
        unit = ExecutionUnit.objects.select_for_update().filter(unit_id=unit_id).first()
        if unit is None:
            unit = ExecutionUnit.objects.create(unit_id=unit_id, token_hash=hashed,
                                                registered_at=now, token_rotated_at=now,
                                                **fields)
            _event(unit, "registered", by=by, to_status=unit.status)
            created = True
        else:
            if not may_rotate:
                raise PermissionDenied(
                    f"unit {unit_id} is registered; only an admin or the unit itself (with its "
                    "current token) may register it again")
            for name, value in fields.items():
                setattr(unit, name, value)
            unit.token_hash, unit.token_rotated_at = hashed, now
            unit.save(update_fields=[*fields, "token_hash", "token_rotated_at"])
            _event(unit, "token_rotated", by=by)
            created = False
    emit("unit.registered", {"unit": unit.unit_id, "created": created, "actor": by.name})
    return Registration(unit=unit, token=raw, created=created)


def unit_authenticate(*, raw: str) -> ExecutionUnit | None:
    if not raw.startswith(TOKEN_PREFIX):
        return None
    return ExecutionUnit.objects.filter(token_hash=token_hash(raw=raw)).first()


# --- status -----------------------------------------------------------------------------------
def _event(unit: ExecutionUnit, event: str, *, by: Actor, from_status: str = "",
           to_status: str = "", reason: str = "") -> None:
    UnitEvent.objects.create(unit=unit, event=event, from_status=from_status,
                             to_status=to_status, actor_name=by.name[:150], reason=reason[:300])


def _move(unit: ExecutionUnit, transition: str, *, by: Actor, reason: str = "") -> None:
    """Apply a status transition to a locked unit, record it, announce it after commit."""
    from_status = unit.status
    if not can_proceed(getattr(unit, transition)):
        raise Conflict(f"unit {unit.unit_id} is {unit.status}: cannot {transition}",
                       current=unit.status, allowed=_allowed(unit))
    getattr(unit, transition)()
    ExecutionUnit.objects.filter(pk=unit.pk).update(status=unit.status)
    _event(unit, transition, by=by, from_status=from_status, to_status=unit.status,
           reason=reason)
    emit(f"unit.{unit.status}", {"unit": unit.unit_id, "from": from_status,
                                 "actor": by.name, "reason": reason})


def _allowed(unit: ExecutionUnit) -> list[str]:
    return sorted(t.name for t in unit.get_available_status_transitions())


def _locked(unit_pk: int) -> ExecutionUnit:
    return ExecutionUnit.objects.select_for_update().get(pk=unit_pk)


def unit_drain(*, unit: ExecutionUnit, by: Actor, reason: str = "") -> ExecutionUnit:
    """No new work for the unit; what it runs, it finishes. Work routed to it that it has
    not started goes back to the queue, to be routed to another."""
    with transaction.atomic():
        locked = _locked(unit.pk)
        _move(locked, "drain", by=by, reason=reason)
        routed = list(Task.objects.filter(assignee_unit=locked, status="assigned")
                      .values_list("pk", flat=True))
        if routed:
            task_services.tasks_requeue_from_unit(
                unit_pk=locked.pk, task_ids=routed, by=by, cause=DRAINED,
                reason=f"unit draining: {locked.unit_id} takes no new work")
    return locked


def unit_undrain(*, unit: ExecutionUnit, by: Actor, reason: str = "") -> ExecutionUnit:
    with transaction.atomic():
        locked = _locked(unit.pk)
        _move(locked, "undrain", by=by, reason=reason)
    return locked


def unit_deregister(*, unit: ExecutionUnit, by: Actor) -> None:
    """Remove an offline unit (its work has failed over); a live one must go offline first."""
    with transaction.atomic():
        locked = _locked(unit.pk)
        if locked.status != U.OFFLINE:
            raise Conflict(f"unit {locked.unit_id} is {locked.status}: only an offline unit is "
                           "deregistered (drain it and stop it first)",
                           current=locked.status, allowed=_allowed(locked))
        if Task.objects.filter(assignee_unit=locked, status__in=_HELD).exists():
            raise Conflict(f"unit {locked.unit_id} still holds work; it fails over first",
                           current=locked.status)
        locked.delete()
    emit("unit.deregistered", {"unit": unit.unit_id, "actor": by.name})
    try:
        beats.forget(unit.pk)
    except redis.RedisError:  # its keys expire or are ignored: no unit row matches them
        logger.warning("could not clear the heartbeats of deregistered unit %s", unit.unit_id)


# --- heartbeats ---------------------------------------------------------------------------------
def unit_heartbeat(*, unit: ExecutionUnit, current_load: int, metadata: dict,
                   by: Actor) -> list[str]:
    """Record a heartbeat; return the ids of the unit's tasks cancelled since the last one.

    No PostgreSQL write while Redis answers. Without Redis, the heartbeat is written to
    PostgreSQL instead (so a healthy unit is not marked offline because Redis is), and the
    cancel flags are read there.
    """
    if unit.status == U.OFFLINE:  # back from the dead: online at once, not at the next sweep
        _come_back(unit, by=by)
    HEARTBEATS.labels(unit.unit_type).inc()
    try:
        return beats.record(unit.pk, load=current_load, metrics=metadata)
    except redis.RedisError:
        logger.warning("heartbeat of %s written to PostgreSQL: Redis unavailable", unit.unit_id)
        return _heartbeat_in_database(unit, current_load=current_load, metadata=metadata)


def _come_back(unit: ExecutionUnit, *, by: Actor) -> None:
    with transaction.atomic():
        locked = _locked(unit.pk)
        if locked.status == U.OFFLINE:
            _move(locked, "come_online", by=by, reason="heartbeat")
    unit.status = locked.status


def _heartbeat_in_database(unit: ExecutionUnit, *, current_load: int,
                           metadata: dict) -> list[str]:
    now = timezone.now()
    since = unit.last_heartbeat_at or unit.registered_at
    ExecutionUnit.objects.filter(pk=unit.pk).update(
        last_heartbeat_at=now, reported_load=current_load, metrics=metadata)
    task_services.tasks_renew_leases(unit_pks=[unit.pk], now=now)
    cancelled = Task.objects.filter(assignee_unit=unit, status="cancelled",
                                    finished_at__gte=since).values_list("pk", flat=True)
    return sorted(str(pk) for pk in cancelled)


def flag_cancelled(*, unit_pk: int, task_ids: list[str]) -> None:
    """A subscriber after commit (apps.execution.hooks): the unit hears of it at its next
    heartbeat. Lost with Redis, the unit still learns at its next report (a 409)."""
    beats.flag_cancelled(unit_pk, task_ids)


# --- the sweep: persist, detect silence, fail over, take back expired leases ------------------
@dataclass
class SweepResult:
    persisted: int = 0
    online: int = 0
    offline: int = 0
    failed_over: int = 0
    leases_expired: int = 0
    timed_out: int = 0
    routed: int = 0


def units_sweep(*, now: datetime | None = None) -> SweepResult:
    now = now or timezone.now()
    result = SweepResult()
    try:
        heard = beats.latest()
        remembering_since = beats.heard_since(now.timestamp())
    except redis.RedisError:
        # Without the heartbeats nobody can be judged silent: mark no one offline. Leases
        # still run out (a unit heard from nowhere keeps none).
        logger.warning("units sweep: Redis unavailable, nobody marked offline this round")
        heard, remembering_since = None, None
    if heard is not None:
        result.persisted, result.online = _persist(heard, now)
        if now.timestamp() - remembering_since >= settings.UNIT_HEARTBEAT_GRACE_SECONDS:
            result.offline, result.failed_over = _fail_over_silent(heard, now)
    result.timed_out = _fail_timed_out(now)  # first: past its time is a failure, counted
    result.leases_expired = _take_back_expired_leases(now) + _take_back_unstarted(now)
    result.routed = units_dispatch_waiting()  # after failover: its work routed again at once
    return result


def _fail_timed_out(now: datetime) -> int:
    """A unit's task running past its type's timeout fails as a failure report would: retried
    after its backoff while retries remain, a dead letter after."""
    # Decided by the database, one query per distinct timeout (types share few): this runs
    # every second, and reading every running task to compare in Python would cost a row per
    # task each time.
    running = Task.objects.filter(status="running", assignee_unit__isnull=False,
                                  started_at__isnull=False)
    limits = (running.filter(task_type__timeout__isnull=False).order_by()
              .values_list("task_type__timeout", flat=True).distinct())
    late = [(task_id, limit) for limit in limits for task_id in running.filter(
        task_type__timeout=limit, started_at__lt=now - timedelta(seconds=limit),
    ).values_list("pk", flat=True)[:SWEEP_BATCH]]
    failed = 0
    for task_id, limit in late:
        try:
            task_services.task_transition(
                task_id=task_id, action="fail", by=SWEEPER, reason="timeout",
                error=f"timeout: running longer than its type's {limit} s")
        except (Conflict, Task.DoesNotExist):
            continue  # a possible race: finished or taken back since the read
        failed += 1
    return failed


def _persist(heard: dict[int, beats.Beat], now: datetime) -> tuple[int, int]:
    """Write the heartbeats newer than what PostgreSQL has, in one statement; renew the
    leases of the units heard from; bring back units that were offline."""
    units = {u.pk: u for u in ExecutionUnit.objects.filter(pk__in=list(heard))}
    fresh = []
    for pk, beat in heard.items():
        unit = units.get(pk)
        at = datetime.fromtimestamp(beat.at, tz=UTC)
        # A key left by a unit row since deleted, or older than this registration: ignored.
        if unit is None or at <= unit.registered_at:
            continue
        if unit.last_heartbeat_at is None or at > unit.last_heartbeat_at:
            unit.last_heartbeat_at, unit.reported_load, unit.metrics = at, beat.load, beat.metrics
            fresh.append(unit)
    update_rows(ExecutionUnit, ["last_heartbeat_at", "reported_load", "metrics"], fresh)
    task_services.tasks_renew_leases(unit_pks=[u.pk for u in fresh], now=now)
    back = 0
    for unit in fresh:
        if unit.status == U.OFFLINE and not _silent(unit, now):
            _come_back(unit, by=SWEEPER)
            back += 1
    return len(fresh), back


def _silent(unit: ExecutionUnit, now: datetime, beat: beats.Beat | None = None) -> bool:
    last = unit.last_heartbeat_at or unit.registered_at
    if beat is not None:
        last = max(last, datetime.fromtimestamp(beat.at, tz=UTC))
    return now - last > timedelta(seconds=unit.heartbeat_timeout)


def _fail_over_silent(heard: dict[int, beats.Beat], now: datetime) -> tuple[int, int]:
    """Units not heard from within their timeout go offline; their work goes back to the
    queue, to be claimed by others."""
    offline = moved = 0
    for unit in ExecutionUnit.objects.filter(status__in=sorted(LIVE_STATES)):
        if not _silent(unit, now, heard.get(unit.pk)):
            continue
        with transaction.atomic():
            locked = _locked(unit.pk)
            if locked.status not in LIVE_STATES:
                continue  # a possible race: another sweep got here first
            _move(locked, "go_offline", by=SWEEPER,
                  reason=f"no heartbeat for {locked.heartbeat_timeout} s")
        offline += 1
        moved += task_services.tasks_requeue_from_unit(
            unit_pk=unit.pk, by=SWEEPER, cause=OFFLINE,
            reason=f"unit offline: {unit.unit_id} silent for {unit.heartbeat_timeout} s")
    return offline, moved


def _take_back_expired_leases(now: datetime) -> int:
    return _requeue_by_unit(
        task_services.tasks_lease_expired_ids(now=now), cause=LEASE_EXPIRED,
        reason="lease expired: no heartbeat or progress from its unit in time")


def _take_back_unstarted(now: datetime) -> int:
    """Work routed to a unit that heartbeats but never claims it (its claim loop is stuck, or
    it serves the type no more) goes back to be routed again: heartbeats renew the lease of
    everything a unit holds, so the lease alone would keep such work there for ever."""
    stale = (Task.objects.filter(status="assigned", assignee_unit__isnull=False,
                                 assigned_at__lt=now - timedelta(
                                     seconds=settings.UNIT_LEASE_SECONDS))
             .values_list("pk", "assignee_unit_id")[:SWEEP_BATCH])
    return _requeue_by_unit(stale, cause=NOT_STARTED, reason=(
        f"not started: routed to its unit more than {settings.UNIT_LEASE_SECONDS} s ago"))


def _requeue_by_unit(rows, *, cause: str, reason: str) -> int:
    by_unit: dict[int, list] = {}
    for task_id, unit_pk in rows:
        by_unit.setdefault(unit_pk, []).append(task_id)
    return sum(task_services.tasks_requeue_from_unit(
        unit_pk=unit_pk, task_ids=task_ids, by=SWEEPER, cause=cause, reason=reason)
        for unit_pk, task_ids in by_unit.items())


# --- flow control of a unit type's queue -------------------------------------------------------
def unit_queue_set(*, task_type: TaskType, by: Actor, max_running: Any = _UNSET,
                   paused: Any = _UNSET, unit_types: Any = _UNSET) -> UnitQueue:
    """Pause or resume a unit type's queue, or limit how many of its tasks units hold at
    once. Resuming wakes the units waiting for its work."""
    with transaction.atomic():
        queue, _ = UnitQueue.objects.select_for_update().get_or_create(task_type=task_type)
        was_paused = queue.paused
        if max_running is not _UNSET:
            queue.max_running = max_running
        if paused is not _UNSET:
            queue.paused = paused
        if unit_types is not _UNSET:
            queue.unit_types = sorted(set(unit_types))
            transaction.on_commit(forget_accepting)
        queue.save()
        emit("unit_queue.changed", {"task_type": task_type.key, "paused": queue.paused,
                                    "resumed": was_paused and not queue.paused,
                                    "max_running": queue.max_running, "actor": by.name})
    return queue


def _claimable(type_ids: list[int], room: int) -> list[tuple[list[int], int]]:
    """(task types, how many) a claim may take: paused queues skipped; a type with a limit
    on how many run at once gets what is left under it, counted under its queue's row lock,
    so claims at once never go past it together."""
    queues = {q.pk: q for q in UnitQueue.objects.filter(pk__in=type_ids)}
    open_ids = [t for t in type_ids if t not in queues or not queues[t].paused]
    limited = sorted(t for t in open_ids if t in queues and queues[t].max_running)
    plan = [([t for t in open_ids if t not in limited], room)] if room else []
    if limited:
        list(UnitQueue.objects.select_for_update().filter(pk__in=limited).order_by("pk"))
        running = dict(Task.objects.filter(task_type_id__in=limited, status__in=_HELD,
                                           assignee_unit__isnull=False)
                       .values_list("task_type_id").annotate(n=Count("pk")).order_by())
        plan += [([t], queues[t].max_running - running.get(t, 0)) for t in limited]
    return [(ids, n) for ids, n in plan if ids and n > 0]


# --- claiming -----------------------------------------------------------------------------------
_HELD = tuple(sorted(HELD_STATES))  # the statuses in which a task counts for its holder


_ASSIGNEE_UNIT = Task._meta.get_field("assignee_unit")


def served_task_type_ids(*, unit: ExecutionUnit) -> list[int]:
    """The task types a unit serves: the one whose key is its unit type, and those that
    accept its unit type besides."""
    return list(_served(unit).values_list("pk", flat=True))


def _served(unit: ExecutionUnit):
    accepting = task_types_accepting(unit_type=unit.unit_type)
    return TaskType.objects.filter(Q(key=unit.unit_type) | Q(pk__in=accepting),
                                   assignee_kind=AssigneeKind.UNIT, is_active=True).order_by("pk")


def _served_and_routed(unit: ExecutionUnit) -> tuple[list[int], dict[int, RoutingPolicy]]:
    """served_task_type_ids and routing_policies of them, in one query (a claim's first)."""
    rows = _served(unit).values_list("pk", "assignment_policy__strategy",
                                     "assignment_policy__strategy_params")
    served, routed = [], {}
    for pk, strategy, params in rows:
        served.append(pk)
        if strategy is not None and strategy != PULL:  # no row: the default, pull
            routed[pk] = RoutingPolicy(strategy, params or {})
    return served, routed


def tasks_claim(*, unit: ExecutionUnit, max_tasks: int, by: Actor) -> list[Task]:
    """Lease up to `max_tasks` tasks to a unit, most urgent first (priority, then age),
    within its free capacity; they come back started (running).

    First what routing sent it (types whose strategy routes: their queued work is routed
    first, in its own transaction, see units_route), then, for `pull` types, queued tasks
    taken with SKIP LOCKED: units claiming at once never wait on each other and never lease
    the same task. The unit's row lock orders its own concurrent claims and the capacity
    they take.
    """
    served, routed = _served_and_routed(unit)
    if routed and unit.status == U.ONLINE:
        units_route(task_type_ids=list(routed))
    pull_types = [t for t in served if t not in routed]
    with transaction.atomic():
        locked = _locked(unit.pk)
        if locked.status != U.ONLINE or max_tasks <= 0:
            return []
        # Routed to it: its capacity was taken when they were routed.
        tasks = task_services.tasks_start_routed(unit_pk=locked.pk, limit=max_tasks, by=by)
        room = min(max_tasks - len(tasks), locked.capacity - locked.held)
        pulled: list[Task] = []
        if room > 0 and pull_types:
            sharding.shards_split_waiting(task_type_ids=pull_types)  # their shards are work
        for type_ids, most in _claimable(pull_types, room) if room > 0 and pull_types else ():
            pulled += task_services.tasks_lock_queued(
                kind=AssigneeKind.UNIT, task_type_ids=type_ids,
                limit=min(most, room - len(pulled)))
        if pulled:
            task_services.tasks_hand_to_unit(tasks=pulled, unit_pk=locked.pk, by=by)
            ExecutionUnit.objects.filter(pk=locked.pk).update(
                held=F("held") + len(pulled), last_assigned_at=timezone.now())
        tasks += pulled
    # What the answer shows, known without a query per task.
    for task in tasks:
        _ASSIGNEE_UNIT.set_cached_value(task, locked)
    return list(tasks_dependencies_known(tasks=tasks))


# --- routing: strategies that choose the unit ----------------------------------------------------
@dataclass(frozen=True)
class RoutingPolicy:
    strategy: str
    params: dict


def routing_policies(*, task_type_ids: Sequence[int]) -> dict[int, RoutingPolicy]:
    """The types among these whose strategy routes their work to a chosen unit (anything but
    `pull`), with the strategy and its params: one query."""
    if not task_type_ids:
        return {}
    rows = AssignmentPolicy.objects.filter(task_type_id__in=task_type_ids).exclude(
        strategy=PULL).values_list("task_type_id", "strategy", "strategy_params")
    return {type_id: RoutingPolicy(strategy, params or {}) for type_id, strategy, params in rows}


ROUTE_BATCH = 500  # queued tasks one routing run takes on per type; the next run the rest
ROUTER = Actor.system("router")


def units_route(*, task_type_ids: Sequence[int]) -> int:
    """Route the queued work of these types, those whose strategy routes, to units chosen by each
    type's strategy, among the online units serving the type with room, after its labels
    and resource filters: each chosen unit has the task `assigned` to it under a lease, and
    starts it at its next claim (waiting claims are woken). Work no unit can take stays
    queued for the next run. Returns how many were routed.

    The units are locked in id order (routing runs at once never deadlock, and capacity is
    exact), the tasks with SKIP LOCKED. Never called under a unit's lock: a claim routes
    before it locks its own row.
    """
    policies = routing_policies(task_type_ids=task_type_ids)
    return sum(_route_type(type_id, policy) for type_id, policy in sorted(policies.items()))


def units_dispatch_waiting() -> int:
    """The sweep's pass over every unit type's waiting work (claims do the same for their
    own types): sharded parents split, routed types' work routed."""
    type_ids = list(TaskType.objects.filter(assignee_kind=AssigneeKind.UNIT, is_active=True)
                    .values_list("pk", flat=True))
    routed = routing_policies(task_type_ids=type_ids)
    sharding.shards_split_waiting(task_type_ids=[t for t in type_ids if t not in routed])
    return units_route(task_type_ids=list(routed))


def _route_type(type_id: int, policy: RoutingPolicy) -> int:
    # Most runs (every claim of the type, every sweep) find nothing queued: answered by the
    # queue's index, without locking every unit of the type, which each claim also locks.
    if not Task.objects.filter(task_type_id=type_id, status="queued").exists():
        return 0
    task_type = TaskType.objects.filter(pk=type_id).select_related("unit_queue").first()
    if task_type is None:
        return 0
    queue = unit_queue_of(task_type=task_type)
    if queue.paused:
        return 0
    broadcast = policy.strategy == SHARDING_BROADCAST
    with transaction.atomic():
        # Sharded parents first: their shards are what is routed.
        sharding.shards_split_waiting(task_type_ids=[type_id],
                                      broadcast_type_ids=[type_id] if broadcast else ())
        units = list(ExecutionUnit.objects.select_for_update().filter(
            status=U.ONLINE, unit_type__in=[task_type.key, *queue.unit_types]).order_by("pk"))
        room = sum(max(u.capacity - u.held, 0) for u in units)
        if queue.max_running:
            room = min(room, _limit_left(task_type, queue))
        if room <= 0:
            return 0
        tasks = task_services.tasks_lock_queued(
            kind=AssigneeKind.UNIT, task_type_ids=[type_id], limit=min(room, ROUTE_BATCH),
            shards_only=broadcast)
        items, chosen_units = _choose(tasks, units, policy, queue)
        if not items:
            return 0
        task_services.tasks_route_to_units(items=items, by=ROUTER)
        update_rows(ExecutionUnit, ["held", "last_assigned_at"], chosen_units)
        if get_strategy(policy.strategy).keeps_cursor:
            UnitQueue.objects.update_or_create(task_type=task_type,
                                               defaults={"route_cursor": queue.route_cursor})
        emit("tasks.routed", {"types": [task_type.key], "count": len(items)})
    return len(items)


def _limit_left(task_type: TaskType, queue: UnitQueue) -> int:
    running = Task.objects.filter(task_type=task_type, status__in=_HELD,
                                  assignee_unit__isnull=False).count()
    return queue.max_running - running


def _choose(tasks: list[Task], units: list[ExecutionUnit], policy: RoutingPolicy,
            queue: UnitQueue) -> tuple[list[tuple[Task, int, str]], list[ExecutionUnit]]:
    """Each task's unit, by the strategy over the pool as earlier choices in the batch
    left it (their load counted, the round-robin turn moved on)."""
    pool = [candidate_of(u) for u in units]
    rows = {u.pk: u for u in units}
    now = timezone.now()
    items, chosen = [], {}
    for task in tasks:
        pick, why = pick_unit(task, pool, strategy=policy.strategy, params=policy.params,
                              cursor=queue.route_cursor, weight=1)
        if pick is None:
            continue
        pick.load += 1
        pick.last_assigned_at = now
        queue.route_cursor = pick.pk
        unit = rows[pick.pk]
        unit.held, unit.last_assigned_at = pick.load, now
        chosen[unit.pk] = unit
        items.append((task, unit.pk, why[:300]))
    return items, list(chosen.values())


@dataclass(frozen=True)
class Outcome:
    task_id: str
    status: str  # the task's status after the report, or "conflict"
    detail: str = ""


def unit_report_results(*, unit: ExecutionUnit, results: Sequence[dict], by: Actor
                        ) -> list[Outcome]:
    """Results of many tasks at once (a unit that finishes many small tasks), in one
    transaction of a few statements (tasks_finish_many); one the unit no longer holds is
    refused alone (a conflict in its place), the others stand. The unit's capacity comes
    back in one statement for the batch."""
    reports = [task_services.Report(task_id=str(r["task_id"]), outcome=r["outcome"],
                                    result=r.get("result"), error=r.get("error", ""),
                                    retryable=r.get("retryable", True)) for r in results]
    with transaction.atomic():
        done = task_services.tasks_finish_many(reports=reports, by=by)
        released = sum(1 for status in done if isinstance(status, str) and status not in _HELD)
        if released:
            ExecutionUnit.objects.filter(pk=unit.pk).update(held=Greatest(F("held") - released,
                                                                          0))
    return [_outcome(report, status) for report, status in zip(reports, done, strict=True)]


def _outcome(report, status: str | Conflict) -> Outcome:
    if isinstance(status, Conflict):
        return Outcome(task_id=report.task_id, status="conflict", detail=str(status))
    return Outcome(task_id=report.task_id, status=status)


def unit_give_back(*, unit: ExecutionUnit, task_ids: Sequence[str], by: Actor,
                   reason: str = "") -> list[str]:
    """Put tasks the unit holds back in the queue at once, with no failure counted against
    them: a unit that stops gives back what it will not finish (its attempt stays counted,
    as a failover's does). Ids it does not hold are left alone and not in the answer."""
    why = "given back by its unit" + (f": {reason}" if reason else "")
    with transaction.atomic():
        held = [str(pk) for pk in Task.objects.filter(
            assignee_unit_id=unit.pk, status__in=_HELD, pk__in=list(task_ids)
        ).values_list("pk", flat=True)]
        task_services.tasks_requeue_from_unit(unit_pk=unit.pk, task_ids=held, by=by,
                                              cause=GIVEN_BACK, reason=why[:300])
        # Rows another transaction held were skipped: only what is queued now went back.
        return sorted(str(pk) for pk in Task.objects.filter(
            pk__in=held, status="queued").values_list("pk", flat=True))


def unit_held_follow_task(change: Change) -> None:
    """A transition listener (apps.execution.hooks): a unit's `held` count follows the tasks
    it holds, in the transition's transaction. Claims count theirs up front."""
    if change.unit_before == change.unit_after:
        return
    if change.unit_before is not None and not change.release_counted:
        ExecutionUnit.objects.filter(pk=change.unit_before).update(
            held=Greatest(F("held") - 1, 0))
    if change.unit_after is not None and not change.capacity_reserved:
        took = ExecutionUnit.objects.filter(pk=change.unit_after,
                                            held__lt=F("capacity")).update(held=F("held") + 1)
        if not took:
            raise Conflict("the unit has no free capacity")


def units_reconcile_held() -> int:
    """Recompute every unit's `held` from the tasks: a task deleted by hand must not leave a
    unit looking full for ever."""
    held = (Task.objects.filter(assignee_unit_id=OuterRef("pk"), status__in=_HELD).order_by()
            .values("assignee_unit_id").annotate(n=Count("pk")).values("n"))
    with transaction.atomic():
        # One query finds the wrong ones (as staff_reconcile_load does for people's loads).
        wrong = [ExecutionUnit(pk=pk, held=actual) for pk, actual in
                 ExecutionUnit.objects.select_for_update()
                 .annotate(actual=Coalesce(Subquery(held), 0)).exclude(held=F("actual"))
                 .values_list("pk", "actual")]
        update_rows(ExecutionUnit, ["held"], wrong)
    return len(wrong)
