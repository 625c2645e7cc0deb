"""Beat high availability: a Redis lease decides which beat dispatches, a fence in PostgreSQL
stops one that was replaced.

Every beat runs `LeaderScheduler`. A background thread holds or seeks the lease: SET NX PX with
a holder id of its own, renewed by a compare-and-PEXPIRE script. Each acquisition takes a
fencing token (a Redis counter, INCR: only ever higher) and the beat raises the fence in
PostgreSQL to it (apps.schedules.fencing) before it dispatches anything. The beat dispatches
only while its lease is valid by its own clock (the moment before its last successful renewal
plus the time to live), so a paused leader that wakes up after its lease ran out sends nothing;
and a firing it sent before the pause that arrives late is refused by the fence.

Schedules are dispatched from a plan of their own (`FiringPlan`) rather than one
django-celery-beat entry per schedule: every due planned time is taken in one pass and sent in
batches (`schedules.fire_many`), each firing naming its planned time. The other periodic tasks
(the sweeps of CELERY_BEAT_SCHEDULE, anything added in beat's admin) stay with the stock
DatabaseScheduler machinery, on the leader only.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections
from django.utils import timezone
from django_celery_beat.models import PeriodicTasks
from django_celery_beat.schedulers import DatabaseScheduler

from . import timing
from .fencing import fence_current, fence_mark_dispatched, fence_raise, fence_state
from .metrics import BEAT_LEADER_CHANGES
from .models import Kind, Schedule
from .services import DELAY_POLL_SECONDS, FIRE_MANY_TASK, FIRE_TASK

logger = logging.getLogger(__name__)

# A standby beat looks at its elector this often: takeover waits at most this long once the
# lease is won.
STANDBY_TICK_SECONDS = 0.1
# The leader records how far it has dispatched at least this often, even when idle.
MARK_EVERY_SECONDS = 1.0
# How often a standby brings its plan up to date (LeaderScheduler._keep_plan_warm).
WARM_EVERY_SECONDS = 1.0

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# Only the lease holder may lift the counter (Redis lost it while PostgreSQL kept the fence).
_LIFT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return false
end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[2])
end
return redis.call('INCR', KEYS[2])
"""


def holder_id() -> str:
    """Who holds the lease, as an operator reads it: host, process, and a nonce for a reused
    pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """The lease in Redis: one holder at a time, a fencing token per acquisition."""

    def __init__(self, *, client: redis.Redis, key: str, ttl_seconds: float,
                 holder: str | None = None) -> None:
        self.client = client
        self.key = key
        self.token_key = f"{key}:token"
        self.ttl_ms = max(1, round(ttl_seconds * 1000))
        self.holder = holder or holder_id()
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._lift = client.register_script(_LIFT)

    def acquire(self) -> int | None:
        """The new fencing token if the lease was free and is now ours, else None."""
        token = self._acquire(keys=[self.key, self.token_key], args=[self.holder, self.ttl_ms])
        return None if token is None else int(token)

    def renew(self) -> bool:
        """Extend the lease if it is still ours; False once it has passed to someone else."""
        return bool(self._renew(keys=[self.key], args=[self.holder, self.ttl_ms]))

    def release(self) -> bool:
        return bool(self._release(keys=[self.key], args=[self.holder]))

    def lift_token_above(self, floor: int) -> int | None:
        """A token above `floor`, for a holder whose counter Redis lost (restarted empty)."""
        token = self._lift(keys=[self.key, self.token_key], args=[self.holder, floor])
        return None if token is None else int(token)

    def current_holder(self) -> str | None:
        value = self.client.get(self.key)
        return None if value is None else value.decode()


def lease_from_settings() -> Lease:
    timeout = min(settings.REDIS_SOCKET_TIMEOUT, settings.SCHEDULES_LEADER_TTL_SECONDS / 3)
    client = redis.Redis.from_url(settings.SCHEDULES_LEADER_REDIS_URL, socket_timeout=timeout,
                                  socket_connect_timeout=timeout)
    return Lease(client=client, key=settings.SCHEDULES_LEADER_KEY,
                 ttl_seconds=settings.SCHEDULES_LEADER_TTL_SECONDS)


class Elector:
    """Holds or seeks the lease, one step every `every` seconds (on a thread of its own in a
    beat). `token()` is the fencing token while the lease is valid by this process's clock,
    else None: a renewal that fails (Redis down, the lease taken) lets validity lapse, and a
    process paused past its lease finds it lapsed when it wakes, before anything else runs."""

    def __init__(self, lease: Lease, *, every: float, ttl: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lease = lease
        self.every = every
        self.ttl = ttl
        self.clock = clock
        self._token: int | None = None
        self._valid_until = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def token(self) -> int | None:
        with self._lock:
            return self._token if self.clock() < self._valid_until else None

    def step(self) -> None:
        started = self.clock()
        try:
            with self._lock:
                held = self._token
            if held is None:
                self._try_acquire(started)
            elif self.lease.renew():
                with self._lock:
                    self._valid_until = started + self.ttl
            else:
                self._lose(f"the lease passed to {self.lease.current_holder() or 'nobody'}")
        except redis.RedisError as exc:
            # Nobody can lead without Redis: validity lapses on its own; keep trying quietly.
            if not self._failing:
                logger.warning("beat lease: Redis unavailable (%s); not dispatching until it "
                               "is back", exc)
            self._failing = True
            return
        if self._failing:
            logger.warning("beat lease: Redis is back")
        self._failing = False

    def _try_acquire(self, started: float) -> None:
        token = self.lease.acquire()
        if token is not None:
            with self._lock:
                self._token, self._valid_until = token, started + self.ttl
            BEAT_LEADER_CHANGES.inc()
            logger.warning("beat lease: acquired by %s with token %d", self.lease.holder, token)

    def _lose(self, why: str) -> None:
        with self._lock:
            lost, self._token, self._valid_until = self._token, None, 0.0
        if lost is not None:
            logger.warning("beat lease: token %d lost (%s); standing by", lost, why)

    def replace_token(self, token: int) -> None:
        with self._lock:
            if self._token is not None:
                self._token = token

    def step_down(self, why: str) -> None:
        """Give the lease up (the fence says another leader came after us)."""
        self._lose(why)
        with contextlib.suppress(redis.RedisError):  # else it expires by itself
            self.lease.release()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="beat-lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self.every)

    def stop(self) -> None:
        """On a graceful stop, hand the lease over at once instead of letting it expire."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.every * 4 + 1)
        if self.token() is not None:
            self.step_down("beat stopping")


# --- the schedules' own plan ------------------------------------------------------------------
@dataclass(order=True)
class _Due:
    at: datetime
    schedule_id: int = field(compare=False)
    planned: datetime | None = field(compare=False)  # None: a fixed-delay poll
    version: int = field(compare=False)
    # The schedule's one entry that plans the next firing when taken; catch-up runs of
    # missed planned times are not (the next one is already in the heap).
    chain: bool = field(default=True, compare=False)


@dataclass
class _Known:
    stamp: tuple
    version: int
    schedule: Schedule


class FiringPlan:
    """When each enabled schedule fires next, in a heap: one pass takes every due planned
    time. Kept in step with edits by comparing each schedule's `updated_at` whenever
    django-celery-beat's change stamp moves (every schedule save touches its PeriodicTask)."""

    def __init__(self) -> None:
        self._heap: list[_Due] = []
        self._known: dict[int, _Known] = {}
        self._change_seen: datetime | None = None
        self._horizon: datetime | None = None  # everything due up to here was handed out
        # The plan holds every planned time after this one (None: some were handed out, or
        # nothing is loaded): a standby's plan, ready for a takeover (keep_warm).
        self.covers_from: datetime | None = None

    def __len__(self) -> int:
        return len(self._known)

    def load(self, *, replay_from: datetime, now: datetime, catch_up_all: bool) -> None:
        """Every live schedule, each planned time after `replay_from` up to `now` due at once
        (all of them, or with `catch_up_all` False only the latest: an outage's one
        catch-up run, the misfire policy then deciding), then the next one."""
        self._heap, self._known = [], {}
        self._change_seen = PeriodicTasks.last_change()
        for schedule in self._live().iterator(chunk_size=2000):
            self._add(schedule, after=replay_from, now=now, catch_up_all=catch_up_all)
        heapq.heapify(self._heap)
        self._horizon = now
        self.covers_from = replay_from

    def keep_warm(self, *, floor: datetime, now: datetime) -> None:
        """A standby's plan, ready for the takeover: every planned time after `floor` (the
        leader's recorded dispatch less the replay window, which the takeover replays anyway),
        every edit applied. Loading 10,000 schedules at the takeover cost more than a second
        of the failover; a standby pays it once when it starts, then a few queries a second."""
        if self.covers_from is None:
            self.load(replay_from=floor, now=now, catch_up_all=True)
            return
        self.refresh(now=now)
        polls = []
        while self._heap and self._heap[0].at <= floor:
            item = heapq.heappop(self._heap)
            known = self._known.get(item.schedule_id)
            if known is None or known.version != item.version:
                continue
            if item.planned is None:
                polls.append(item)  # a fixed-delay poll stays due: the takeover makes it
            else:
                self._plan_next(known, item, now)
        for item in polls:
            heapq.heappush(self._heap, replace(item, at=now))
        self._horizon = now
        self.covers_from = max(self.covers_from, floor)

    def forget(self) -> None:
        """Drop the plan: the next keep_warm or takeover loads it afresh."""
        self._heap, self._known, self._change_seen, self._horizon = [], {}, None, None
        self.covers_from = None

    def covers(self, since: datetime) -> bool:
        """Does the plan hold every planned time after `since`?"""
        return self.covers_from is not None and self.covers_from <= since

    def refresh(self, *, now: datetime) -> int:
        """Apply edits, enables, disables, creations and deletions; how many changed."""
        change = PeriodicTasks.last_change()
        if change == self._change_seen:
            return 0
        self._change_seen = change
        stamps = {pk: (updated, live) for pk, updated, live in self._stamps()}
        changed = [pk for pk, stamp in stamps.items()
                   if stamp[1] and (pk not in self._known or self._known[pk].stamp != stamp)]
        gone = [pk for pk in self._known if not stamps.get(pk, (None, False))[1]]
        for pk in gone:
            del self._known[pk]  # its heap entries are skipped when they come up
        after = self._horizon or now
        for schedule in self._live().filter(pk__in=changed):
            self._add(schedule, after=after, now=now, catch_up_all=True, push=True)
        return len(changed) + len(gone)

    def take_due(self, *, now: datetime) -> list[tuple[int, datetime | None]]:
        """Every firing due by `now`, each schedule's next one planned in its place."""
        due: list[tuple[int, datetime | None]] = []
        heap = self._heap
        while heap and heap[0].at <= now:
            item = heapq.heappop(heap)
            known = self._known.get(item.schedule_id)
            if known is None or known.version != item.version:
                continue  # deleted, disabled or edited since it was planned
            due.append((item.schedule_id, item.planned))
            self._plan_next(known, item, now)
        self._horizon = now
        if due:
            self.covers_from = None  # handed out: a later standby spell loads afresh
        return due

    def put_back(self, firings: list[tuple[int, datetime | None]], *, at: datetime) -> None:
        """Firings that could not be sent, due again at `at`."""
        for schedule_id, planned in firings:
            known = self._known.get(schedule_id)
            if known is not None:
                heapq.heappush(self._heap, _Due(at, schedule_id, planned, known.version))

    def seconds_to_next(self, *, now: datetime) -> float | None:
        while self._heap:
            top = self._heap[0]
            known = self._known.get(top.schedule_id)
            if known is not None and known.version == top.version:
                return max(0.0, (top.at - now).total_seconds())
            heapq.heappop(self._heap)
        return None

    # -- internals --
    @staticmethod
    def _live():
        return (Schedule.objects.filter(enabled=True, periodic_task__enabled=True)
                .only("pk", "cron", "timezone", "interval_seconds", "delay_seconds",
                      "run_once_at", "anchor", "updated_at", "enabled"))

    @staticmethod
    def _stamps() -> Iterator[tuple[int, datetime, bool]]:
        rows = Schedule.objects.values_list("pk", "updated_at", "enabled",
                                            "periodic_task__enabled")
        for pk, updated, enabled, periodic_enabled in rows:
            yield pk, updated, bool(enabled and periodic_enabled)

    def _add(self, schedule: Schedule, *, after: datetime, now: datetime, catch_up_all: bool,
             push: bool = False) -> None:
        previous = self._known.get(schedule.pk)
        version = previous.version + 1 if previous else 0
        known = _Known(stamp=(schedule.updated_at, True), version=version, schedule=schedule)
        self._known[schedule.pk] = known
        entries = list(self._first(schedule, after=after, now=now, catch_up_all=catch_up_all,
                                   version=version))
        if push:
            for entry in entries:
                heapq.heappush(self._heap, entry)
        else:
            self._heap.extend(entries)

    def _first(self, schedule: Schedule, *, after: datetime, now: datetime,
               catch_up_all: bool, version: int) -> Iterator[_Due]:
        if schedule.kind == Kind.DELAY:
            yield _Due(now, schedule.pk, None, version)  # the service decides
            return
        missed: list[datetime] = []
        for planned in _slots(schedule, after=max(after, schedule.anchor)):
            if planned > now:
                yield from self._catch_up(schedule.pk, missed, catch_up_all, version)
                yield _Due(planned, schedule.pk, planned, version)
                return
            missed.append(planned)
        yield from self._catch_up(schedule.pk, missed, catch_up_all, version)

    @staticmethod
    def _catch_up(schedule_id: int, missed: list[datetime], catch_up_all: bool,
                  version: int) -> Iterator[_Due]:
        for planned in missed if catch_up_all else missed[-1:]:
            yield _Due(planned, schedule_id, planned, version, chain=False)

    def _plan_next(self, known: _Known, item: _Due, now: datetime) -> None:
        schedule = known.schedule
        if schedule.kind == Kind.DELAY:
            poll = max(1, min(schedule.delay_seconds, DELAY_POLL_SECONDS))
            nxt = _Due(now + timedelta(seconds=poll), schedule.pk, None, known.version)
            heapq.heappush(self._heap, nxt)
            return
        if not item.chain or item.planned is None:
            return
        # A planned time already passed (beat stalled) is due at once, in this same pass.
        for planned in _slots(schedule, after=item.planned):
            heapq.heappush(self._heap, _Due(planned, schedule.pk, planned, known.version))
            return


def _slots(schedule: Schedule, *, after: datetime) -> Iterator[datetime]:
    """The schedule's planned times strictly after `after`."""
    kind = schedule.kind
    if kind == Kind.INTERVAL:
        yield from timing.interval_after(schedule.anchor, schedule.interval_seconds, after)
    elif kind == Kind.CRON:
        yield from timing.cron_after(schedule.cron, timing.zone_of(schedule.timezone), after)
    elif kind == Kind.ONCE and schedule.run_once_at > after:
        yield schedule.run_once_at


# --- the scheduler every beat runs ---------------------------------------------------------
class LeaderScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler, dispatching only while it holds the lease."""

    def __init__(self, *args, **kwargs) -> None:
        self.elector = Elector(lease_from_settings(), every=settings.SCHEDULES_LEADER_RENEW_SECONDS,
                               ttl=settings.SCHEDULES_LEADER_TTL_SECONDS)
        self.plan = FiringPlan()
        self._leading: int | None = None
        self._marked_at = 0.0
        self._warmed_at = 0.0
        self._electing = False
        super().__init__(*args, **kwargs)

    # The schedules' firings are the plan's; the stock machinery keeps the rest.
    def enabled_models_qs(self):
        return super().enabled_models_qs().exclude(task=FIRE_TASK)

    def tick(self, *args, **kwargs) -> float:
        if not self._electing:
            # Started on the first tick, not in __init__: `celery beat` also builds a lazy
            # instance just to print its banner, which must never hold the lease.
            self._electing = True
            self.elector.start()
        token = self.elector.token()
        if token is None:
            if self._leading is not None:
                logger.warning("beat: no longer leading (token %d); standing by", self._leading)
                self._leading = None
            self._keep_plan_warm()
            return STANDBY_TICK_SECONDS
        try:
            if token != self._leading and not self._take_over(token):
                return STANDBY_TICK_SECONDS
            wait = self._dispatch_schedules(self._leading)
        except (DatabaseError, InterfaceError) as exc:
            # PostgreSQL away: nothing can be spawned anyway. Try again shortly, never crash.
            logger.warning("beat: database error while leading: %s", exc)
            close_old_connections()
            return settings.SCHEDULES_LEADER_RENEW_SECONDS
        if self.elector.token() != self._leading:
            return STANDBY_TICK_SECONDS  # lost meanwhile: the stock entries wait too
        stock = super().tick(*args, **kwargs)
        return min(wait, stock, settings.SCHEDULES_LEADER_RENEW_SECONDS)

    def _take_over(self, token: int) -> bool:
        """Raise the fence to our token, then plan from where the previous leader stopped."""
        if not fence_raise(token=token, holder=self.elector.lease.holder):
            fence = fence_current()
            # We hold the lease, so no newer leader exists: Redis lost its counter.
            lifted = self.elector.lease.lift_token_above(fence)
            if lifted is None or not fence_raise(token=lifted, holder=self.elector.lease.holder):
                self.elector.step_down(f"the fence is at {fence}")
                return False
            logger.warning("beat: token counter was behind the fence %d; now %d", fence, lifted)
            self.elector.replace_token(lifted)
            token = lifted
        now = timezone.now()
        last = self._dispatched_until()
        replay_from, catch_up_all = self._replay_start(last, now)
        started = time.monotonic()
        warm = last is not None and catch_up_all and self.plan.covers(replay_from)
        if not warm:
            self.plan.load(replay_from=replay_from, now=now, catch_up_all=catch_up_all)
        self._leading = token
        self._marked_at = 0.0
        logger.warning("beat: leading with token %d: %d schedules %s in %.2f s, replaying "
                       "from %s", token, len(self.plan), "kept warm" if warm else "planned",
                       time.monotonic() - started, replay_from.isoformat())
        return True

    @staticmethod
    def _replay_start(last: datetime | None, now: datetime) -> tuple[datetime, bool]:
        """Where a new leader replays from, and whether it fires every planned time since (a
        handover) or only each schedule's latest (after an outage: one catch-up run, the
        misfire policy then deciding). The first leader ever has nothing to catch up."""
        if last is None:
            return now, True
        replay = timedelta(seconds=settings.SCHEDULES_LEADER_REPLAY_SECONDS)
        return min(last, now) - replay, now - last <= replay * 2 + timedelta(seconds=5)

    @staticmethod
    def _dispatched_until() -> datetime | None:
        state = fence_state()
        return state.dispatched_until if state is not None else None

    def _keep_plan_warm(self) -> None:
        """Standing by: keep the plan as a takeover would load it (FiringPlan.keep_warm),
        once a second. A failure only leaves the takeover to load it."""
        if time.monotonic() - self._warmed_at < WARM_EVERY_SECONDS:
            return
        self._warmed_at = time.monotonic()
        try:
            last, now = self._dispatched_until(), timezone.now()
            replay_from, handover = self._replay_start(last, now)
            if last is None or not handover:
                # Nobody has led yet, or nobody has for a while: the takeover plans afresh
                # (an outage's missed times are one catch-up each, never all of them here).
                self.plan.forget()
                return
            self.plan.keep_warm(floor=replay_from, now=now)
        except (DatabaseError, InterfaceError) as exc:
            logger.warning("beat: standby could not keep its plan: %s", exc)
            close_old_connections()
            self.plan.forget()

    def _dispatch_schedules(self, token: int) -> float:
        now = timezone.now()
        self.plan.refresh(now=now)
        due = self.plan.take_due(now=now)
        if due and not self._send(token, due):
            self.plan.put_back(due, at=now + timedelta(seconds=STANDBY_TICK_SECONDS))
            return STANDBY_TICK_SECONDS
        if due or time.monotonic() - self._marked_at >= MARK_EVERY_SECONDS:
            if not fence_mark_dispatched(token=token, until=now):
                self.elector.step_down("a newer leader raised the fence")
                self._leading = None
                return STANDBY_TICK_SECONDS
            self._marked_at = time.monotonic()
        wait = self.plan.seconds_to_next(now=timezone.now())
        if wait is None:
            return self.max_interval
        # Firings due close together go out together: a message per firing would cost the
        # worker more than the firing itself (a beat of 10,000 schedules over a minute would
        # send one every 6 ms).
        return max(wait, settings.SCHEDULES_DISPATCH_EVERY_SECONDS)

    def _send(self, token: int, due: list[tuple[int, datetime | None]]) -> bool:
        size = settings.SCHEDULES_FIRE_BATCH
        try:
            for start in range(0, len(due), size):
                firings = [[schedule_id, planned.isoformat() if planned else None]
                           for schedule_id, planned in due[start:start + size]]
                self.app.send_task(FIRE_MANY_TASK, kwargs={"token": token, "firings": firings},
                                   producer=self.producer)
        except Exception as exc:  # the broker: whatever kombu raises, retry on the next tick
            logger.warning("beat: could not send %d firing(s): %s", len(due), exc)
            return False
        logger.info("beat: sent %d firing(s) with token %d", len(due), token)
        return True

    def close(self) -> None:
        if self._electing:
            self.elector.stop()
        super().close()
