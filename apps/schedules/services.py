"""Every change to a schedule, and every spawn: one path each, for API, admin, command, beat.

A schedule's django-celery-beat `PeriodicTask` is written in the same transaction as the
schedule, so beat's DatabaseScheduler (which watches PeriodicTask changes) picks up an edit,
an enable or a disable on its next tick, without a restart.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
)

from apps.core.actors import Actor
from apps.core.exceptions import InvalidInput
from apps.tasks import services as task_services
from apps.tasks.models import Task
from apps.tasks.states import OPEN_STATES

from . import selectors, timing
from .fencing import StaleLeader, fence_check, fence_count_refused
from .metrics import MISFIRES, SPAWNS
from .models import Kind, Misfire, Overlap, Schedule, Spawn, SpawnOrigin

FIRE_TASK = "schedules.fire"
# A beat leader's batch of firings (apps.schedules.leader): ids, planned times and its token.
FIRE_MANY_TASK = "schedules.fire_many"
WHEN_FIELDS = ("cron", "interval_seconds", "delay_seconds", "run_once_at")
EDITABLE = frozenset({"name", "task_type", "title", "payload", "priority", "reference", "labels",
                      "enabled", "overlap", "misfire", "timezone", *WHEN_FIELDS})
# A fixed-delay schedule is looked at this often at most: the delay counts from when the
# previous task ended, which beat cannot know, so beat asks and the service decides.
DELAY_POLL_SECONDS = 30


# --- definition -----------------------------------------------------------------------------
def schedule_create(*, fields: dict[str, Any], by: Actor) -> Schedule:
    schedule = Schedule(created_by=by.user, anchor=timezone.now().replace(microsecond=0))
    _apply(schedule, fields)
    with transaction.atomic():
        _save(schedule)
    return schedule


def schedule_update(*, schedule_id: int, changes: dict[str, Any], by: Actor) -> Schedule:
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule_id)
        if any(name in changes for name in WHEN_FIELDS):
            # The new "when" replaces the old one whole; interval slots count from now on.
            schedule.cron, schedule.interval_seconds = "", None
            schedule.delay_seconds, schedule.run_once_at = None, None
            schedule.anchor = timezone.now().replace(microsecond=0)
        _apply(schedule, changes)
        _save(schedule)
    return schedule


def schedule_set_enabled(*, schedule_id: int, enabled: bool, by: Actor) -> Schedule:
    return schedule_update(schedule_id=schedule_id, changes={"enabled": enabled}, by=by)


def schedule_delete(*, schedule_id: int, by: Actor) -> None:
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule_id)
        periodic = schedule.periodic_task
        schedule.delete()
        if periodic is not None:
            periodic.delete()


def _apply(schedule: Schedule, fields: dict[str, Any]) -> None:
    unknown = set(fields) - EDITABLE
    if unknown:
        raise InvalidInput(fields={name: ["This field cannot be set."] for name in unknown})
    for name, value in fields.items():
        setattr(schedule, name, "" if name == "cron" and value is None else value)


def schedule_check(*, schedule: Schedule) -> None:
    """The rules a schedule's definition must keep, each a 400 naming its field."""
    given = [name for name in WHEN_FIELDS if getattr(schedule, name) not in (None, "")]
    if len(given) != 1:
        raise InvalidInput.on(
            "non_field_errors",
            "Give exactly one of cron, interval_seconds, delay_seconds or run_once_at"
            + (f" (not {', '.join(given)})." if given else "."))
    timing.zone_of(schedule.timezone)
    if schedule.cron:
        timing.check_cron(schedule.cron)
    for name in ("interval_seconds", "delay_seconds"):
        value = getattr(schedule, name)
        if value is not None and value < 1:
            raise InvalidInput.on(name, "At least 1 second.")
    timing.check_title(schedule.title)
    if not schedule.task_type.is_active:
        raise InvalidInput.on("task_type", f"Task type {schedule.task_type.key!r} is inactive.")


def _save(schedule: Schedule) -> None:
    schedule_check(schedule=schedule)
    try:
        with transaction.atomic():
            schedule.save()
    except IntegrityError:
        raise InvalidInput.on("name", "A schedule with this name exists.") from None
    _sync_beat(schedule)


def _sync_beat(schedule: Schedule) -> None:
    """Keep the schedule's PeriodicTask in step: beat reads it on its next tick."""
    periodic = schedule.periodic_task or PeriodicTask(name=f"schedule:{schedule.pk}")
    periodic.task = FIRE_TASK
    periodic.args = json.dumps([schedule.pk])
    periodic.enabled = schedule.enabled
    periodic.crontab = periodic.interval = periodic.clocked = None
    periodic.one_off = False
    periodic.description = f"Spawns the tasks of schedule {schedule.name!r}."
    kind = schedule.kind
    if kind == Kind.CRON:
        minute, hour, day_of_month, month, day_of_week = schedule.cron.split()
        periodic.crontab = _reuse_or_create(
            CrontabSchedule, minute=minute, hour=hour, day_of_month=day_of_month,
            month_of_year=month, day_of_week=day_of_week, timezone=schedule.timezone)
    elif kind == Kind.ONCE:
        periodic.clocked = _reuse_or_create(ClockedSchedule, clocked_time=schedule.run_once_at)
        periodic.one_off = True
    else:
        every = (schedule.interval_seconds if kind == Kind.INTERVAL
                 else max(1, min(schedule.delay_seconds, DELAY_POLL_SECONDS)))
        periodic.interval = _reuse_or_create(IntervalSchedule, every=every,
                                             period=IntervalSchedule.SECONDS)
    periodic.save()
    if schedule.periodic_task_id != periodic.pk:
        schedule.periodic_task = periodic
        schedule.save(update_fields=["periodic_task"])


def _reuse_or_create(model, **fields):
    # Beat's schedule tables have no unique constraint: an operator may have made the same row
    # twice in beat's admin, where get_or_create would raise MultipleObjectsReturned (a 500).
    return model.objects.filter(**fields).order_by("pk").first() or model.objects.create(
        **fields)


# --- planned times --------------------------------------------------------------------------
def due_slot(*, schedule: Schedule, now: datetime) -> datetime | None:
    """The planned time a firing at `now` stands for, or None when nothing is due."""
    kind = schedule.kind
    if kind == Kind.CRON:
        return timing.cron_latest(schedule.cron, timing.zone_of(schedule.timezone), now)
    if kind == Kind.INTERVAL:
        return timing.interval_nearest(schedule.anchor, schedule.interval_seconds, now)
    if kind == Kind.ONCE:
        return schedule.run_once_at if schedule.run_once_at <= now + timing.EARLY_TOLERANCE \
            else None
    due = delay_next(schedule=schedule)
    return due if due is not None and due <= now + timing.EARLY_TOLERANCE else None


def delay_next(*, schedule: Schedule) -> datetime | None:
    """A fixed-delay schedule's next run: the previous spawned task's end plus the delay
    (None while it is open); the first run is one delay after the schedule's anchor."""
    last = selectors.latest_spawn(schedule=schedule)
    delay = timedelta(seconds=schedule.delay_seconds)
    if last is None:
        return schedule.anchor + delay
    task = last.task
    if task is not None and task.status in OPEN_STATES:
        return None
    ended = (task.finished_at or task.updated_at) if task is not None else last.created_at
    return max(ended + delay, last.planned_time + timedelta(microseconds=1))


def next_runs(*, schedule: Schedule, count: int, after: datetime | None = None) -> list[datetime]:
    """The next `count` run times after `after`, in the schedule's zone."""
    after = after or timezone.now()
    zone = timing.zone_of(schedule.timezone)
    kind = schedule.kind
    if kind == Kind.CRON:
        times = timing.cron_after(schedule.cron, zone, after)
    elif kind == Kind.INTERVAL:
        times = timing.interval_after(schedule.anchor, schedule.interval_seconds, after)
    else:
        one = schedule.run_once_at if kind == Kind.ONCE else delay_next(schedule=schedule)
        if kind == Kind.ONCE and (one is None or one <= after):
            return []
        times = iter([one] if one is not None else [])
    return [t.astimezone(zone) for _, t in zip(range(count), times, strict=False)]


# --- spawning -------------------------------------------------------------------------------
def schedule_fire(*, schedule_id: int, now: datetime | None = None,
                  token: int | None = None) -> Spawn | None:
    """Beat's firing: spawn the planned time it stands for, once, under the misfire policy.
    A firing with a leader's token spawns nothing if the fence has passed that token."""
    now = now or timezone.now()
    schedule = Schedule.objects.select_related("task_type").filter(pk=schedule_id).first()
    if schedule is None or not schedule.enabled:
        return None
    planned = due_slot(schedule=schedule, now=now)
    if planned is None or _dropped_as_misfire(schedule, planned, now):
        return None
    try:
        return _spawn(schedule, planned, origin=SpawnOrigin.BEAT, token=token)
    except StaleLeader as refused:
        fence_count_refused(refused=refused, firings=1)
        return None


def _dropped_as_misfire(schedule: Schedule, planned: datetime, now: datetime) -> bool:
    # A misfire is a calendar time beat missed (it was down): cron and one-off slots only.
    # An interval's beat keeps its own rhythm after a restart or an enable (its firings drift
    # from the anchor's slots), and a fixed delay's planned time stays in the past until it
    # runs: judged late, they would be dropped at every firing for good.
    late = (schedule.kind in (Kind.CRON, Kind.ONCE)
            and now - planned > timedelta(seconds=settings.SCHEDULES_MISFIRE_GRACE_SECONDS))
    if late:
        MISFIRES.labels(schedule.misfire).inc()
    return late and schedule.misfire == Misfire.SKIP


@dataclass(frozen=True)
class FireOutcome:
    spawned: int = 0  # planned times claimed now (a task, or a recorded skip)
    already: int = 0  # planned times spawned before (another firing of the same slot)
    dropped: int = 0  # disabled, deleted, not due, or a misfire under `skip`
    refused: int = 0  # the whole batch, when its token is below the fence


def schedules_fire_many(*, token: int, firings: Sequence[tuple[int, datetime | None]],
                        now: datetime | None = None) -> FireOutcome:
    """A beat leader's batch: each (schedule id, planned time) spawned once.

    A planned time of None (a fixed-delay schedule) is decided here, as for a single firing.
    Schedules with overlap `allow` are spawned together: one INSERT claims their planned
    times (the unique constraint drops those spawned already) and one batch creates their
    tasks. The others go one by one under their schedule's row lock, as overlap needs.
    """
    now = now or timezone.now()
    ids = {schedule_id for schedule_id, _ in firings}
    schedules = Schedule.objects.select_related("task_type").filter(pk__in=ids, enabled=True)
    by_id = {schedule.pk: schedule for schedule in schedules}
    together, alone, dropped = [], [], 0
    for schedule_id, planned in firings:
        schedule = by_id.get(schedule_id)
        if schedule is not None and planned is None:
            planned = due_slot(schedule=schedule, now=now)
        if schedule is None or planned is None or _dropped_as_misfire(schedule, planned, now):
            dropped += 1
            continue
        simple = schedule.overlap == Overlap.ALLOW and schedule.kind != Kind.DELAY
        (together if simple else alone).append((schedule, planned))
    try:
        spawned = _spawn_together(together, token=token) if together else 0
        for schedule, planned in alone:
            spawned += _spawn(schedule, planned, origin=SpawnOrigin.BEAT, token=token) is not None
    except StaleLeader as refused:
        # Those spawned one by one before the refusal stay: the fence was below their token
        # when they were written. A raise in between is what a refusal means.
        fence_count_refused(refused=refused, firings=len(firings))
        return FireOutcome(refused=len(firings), dropped=dropped)
    return FireOutcome(spawned=spawned, already=len(together) + len(alone) - spawned,
                       dropped=dropped)


def _spawn_together(items: list[tuple[Schedule, datetime]], *, token: int) -> int:
    """Claim every planned time in one INSERT, then create the claimed ones' tasks in one
    batch, in one transaction behind the fence."""
    task_ids = [uuid.uuid4() for _ in items]
    with transaction.atomic():
        fence_check(token=token)
        claimed = _claim(items, task_ids, token=token)
        specs = []
        for (schedule, planned), task_id in zip(items, task_ids, strict=True):
            if task_id in claimed:
                spec = _spec(schedule, planned, None)
                spec.id = task_id
                specs.append(spec)
        if specs:
            task_services.tasks_create_batch(specs=specs, by=Actor.system("scheduler"))
            count = len(specs)
            transaction.on_commit(lambda: SPAWNS.labels(SpawnOrigin.BEAT).inc(count))
    return len(specs)


def _claim(items: list[tuple[Schedule, datetime]], task_ids: list[uuid.UUID], *,
           token: int) -> set[uuid.UUID]:
    """INSERT the Spawn rows, each naming the task it will create (the foreign key is checked
    at commit), skipping planned times spawned already; the task ids of those inserted."""
    columns = ["schedule_id", "planned_time", "task_id", "origin", "skipped", "created_at",
               "token"]
    fields = [Spawn._meta.get_field(name.removesuffix("_id")) for name in columns]
    created = timezone.now()
    params: list = []
    for (schedule, planned), task_id in zip(items, task_ids, strict=True):
        row = [schedule.pk, planned, task_id, SpawnOrigin.BEAT, "", created, token]
        params += [f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)]
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = (f"INSERT INTO {Spawn._meta.db_table} ({', '.join(columns)}) VALUES "
           + ", ".join([row_sql] * len(items))
           + " ON CONFLICT (schedule_id, planned_time) DO NOTHING RETURNING task_id")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {uuid.UUID(str(task_id)) for (task_id,) in cursor.fetchall()}


def schedule_trigger(*, schedule_id: int, by: Actor) -> Spawn:
    """Run now, whatever the schedule's times: planned for this moment, overlap applied."""
    schedule = Schedule.objects.select_related("task_type").get(pk=schedule_id)
    return _spawn(schedule, timezone.now(), origin=SpawnOrigin.TRIGGER, by=by)


def schedule_backfill(*, schedule_id: int, start: datetime, end: datetime, serial: bool,
                      by: Actor) -> list[Spawn]:
    """One task per planned time in [start, end] not yet spawned, in one transaction:
    serially (each depends on the one before) or in parallel."""
    schedule = Schedule.objects.select_related("task_type").get(pk=schedule_id)
    planned = backfill_times(schedule=schedule, start=start, end=end)
    spawns: list[Spawn] = []
    with transaction.atomic():
        # A planned time spawned already (by beat, a trigger, an earlier backfill) is not
        # spawned again, but a serial chain runs through its task: the next new run waits
        # for it as it would have for one this backfill made.
        existing = _spawned_tasks(schedule, planned)
        previous: Task | None = None
        for when in planned:
            if when in existing:
                previous = existing[when] or previous
                continue
            spawn = _spawn(schedule, when, origin=SpawnOrigin.BACKFILL, by=by, overlap=False,
                           depends_on=[previous.pk] if serial and previous else [])
            if spawn is None:  # spawned meanwhile by someone else: chain through theirs
                previous = _spawned_tasks(schedule, [when]).get(when) or previous
                continue
            spawns.append(spawn)
            previous = spawn.task or previous
    return spawns


def _spawned_tasks(schedule: Schedule, planned: list[datetime]) -> dict[datetime, Task | None]:
    """The planned times among `planned` that have a spawn, with its task (None: skipped)."""
    rows = Spawn.objects.filter(schedule=schedule, planned_time__in=planned) \
        .select_related("task").only("planned_time", "task__id")
    return {row.planned_time: row.task for row in rows}


def backfill_times(*, schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    if end < start:
        raise InvalidInput.on("end", "The end comes before the start.")
    kind = schedule.kind
    if kind == Kind.DELAY:
        raise InvalidInput.on("start", "A fixed-delay schedule has no planned times to "
                                       "backfill: trigger it instead.")
    limit = settings.SCHEDULES_BACKFILL_MAX_RUNS
    before = start - timedelta(microseconds=1)
    if kind == Kind.ONCE:
        return [schedule.run_once_at] if start <= schedule.run_once_at <= end else []
    if kind == Kind.CRON:
        times = timing.cron_after(schedule.cron, timing.zone_of(schedule.timezone), before)
    else:
        times = timing.interval_after(schedule.anchor, schedule.interval_seconds, before)
    found: list[datetime] = []
    for when in times:
        if when > end:
            return found
        if len(found) == limit:
            raise InvalidInput.on("end", f"The range holds more than {limit} runs.")
        found.append(when)
    return found


def _spawn(schedule: Schedule, planned: datetime, *, origin: str,
           by: Actor | None = None, overlap: bool = True,
           depends_on: list | None = None, token: int | None = None) -> Spawn | None:
    """Claim the planned time, then spawn its task, in one transaction. A second spawner of
    the same planned time hits the unique constraint: already spawned, it returns None.
    A leader's token below the fence raises StaleLeader and writes nothing."""
    by = by or Actor.system("scheduler")
    with transaction.atomic():
        # Serialises spawners of one schedule, so overlap decisions see each other's tasks.
        list(Schedule.objects.select_for_update().filter(pk=schedule.pk).values_list("pk"))
        fence_check(token=token)
        try:
            with transaction.atomic():
                spawn = Spawn.objects.create(schedule=schedule, planned_time=planned,
                                             origin=origin, token=token)
        except IntegrityError:
            return None
        if overlap:
            refusal = _apply_overlap(schedule, spawn, by)
            if refusal:
                spawn.skipped = refusal
                spawn.save(update_fields=["skipped"])
                return spawn
        task, _ = task_services.task_create(spec=_spec(schedule, planned, depends_on), by=by)
        spawn.task = task
        spawn.save(update_fields=["task"])
        # Counted once the outermost transaction commits (a backfill spawns in one).
        transaction.on_commit(SPAWNS.labels(origin).inc)
    return spawn


def _open_spawned(schedule: Schedule, spawn: Spawn) -> list:
    task_ids = schedule.spawns.exclude(pk=spawn.pk).filter(task__isnull=False) \
        .values_list("task_id", flat=True)
    return list(Task.objects.filter(pk__in=task_ids, status__in=OPEN_STATES)
                .values_list("pk", flat=True))


def _apply_overlap(schedule: Schedule, spawn: Spawn, by: Actor) -> str:
    """"" to go ahead, else why this planned time spawns nothing."""
    if schedule.overlap == Overlap.ALLOW:
        return ""
    open_ids = _open_spawned(schedule, spawn)
    if not open_ids:
        return ""
    if schedule.overlap == Overlap.SKIP:
        return "The previous spawned task is still open."
    for task_id in open_ids:
        task_services.task_transition(
            task_id=task_id, action="cancel", by=by,
            reason=f"Replaced by the run of schedule {schedule.name!r} planned at "
                   f"{spawn.planned_time.isoformat()}.")
    return ""


def _spec(schedule: Schedule, planned: datetime, depends_on: list | None):
    zone = timing.zone_of(schedule.timezone)
    return task_services.TaskSpec(
        title=timing.render_title(schedule.title, planned.astimezone(zone)),
        task_type=schedule.task_type, priority=schedule.priority,
        payload=dict(schedule.payload or {}), reference=schedule.reference,
        labels=list(schedule.labels or []), depends_on=list(depends_on or []))
