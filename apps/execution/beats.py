"""Heartbeats in Redis: the latest of each unit, and the cancel flags waiting for it.

Heartbeats are the hottest write in the system, so a heartbeat writes no PostgreSQL row: it
sets the unit's latest (time, load, metrics) in a hash and its time in a sorted set, and takes
the unit's cancel flags, in one round trip. A sweep (services.units_sweep) reads them all and
persists them in one statement per batch. If Redis loses them (a restart), units look silent
until they beat again: `heard_since` tells the sweep how long Redis has been remembering, and
nobody is marked offline within the grace period that follows.

Every call raises redis.RedisError on trouble; callers decide what that means.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

_client: redis.Redis | None = None
_lock = threading.Lock()
CANCEL_FLAG_TTL = 24 * 3600  # a flag nobody collected in a day belongs to a unit long gone


def client() -> redis.Redis:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = redis.Redis.from_url(
                    settings.UNITS_REDIS_URL,
                    socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT,
                    socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
                )
    return _client


def reset_client() -> None:
    global _client
    with _lock:
        old, _client = _client, None
    if old is not None:
        old.close()


def _key(*parts: object) -> str:
    return settings.UNITS_KEY_PREFIX + ":".join(str(p) for p in parts)


@dataclass(frozen=True)
class Beat:
    at: float  # unix time
    load: int
    metrics: dict


def record(unit_pk: int, *, load: int, metrics: dict, at: float | None = None) -> list[str]:
    """Store a heartbeat; return (and clear) the ids of the unit's tasks cancelled since."""
    pipe = client().pipeline(transaction=True)
    taken = add_beat(pipe, unit_pk, load=load, metrics=metrics, at=at)
    return cancelled_in(pipe.execute(), taken)


def add_beat(pipe, unit_pk: int, *, load: int, metrics: dict, at: float | None = None) -> int:
    """Queue a heartbeat's commands on a pipeline, sync or asyncio (the same commands, one
    round trip): the latest beat, its time, the cancel flags taken, the count per minute.
    Returns where the flags are among the pipeline's results (see `cancelled_in`)."""
    at = time.time() if at is None else at
    flags = _key("cancel", unit_pk)
    minute = _key("per-minute", int(at // 60))
    pipe.hset(_key("beat", unit_pk), mapping={"at": at, "load": load,
                                              "metrics": json.dumps(metrics)})
    pipe.zadd(_key("beats"), {str(unit_pk): at})
    pipe.smembers(flags)
    pipe.delete(flags)
    pipe.incr(minute)
    pipe.expire(minute, 3600)
    return 2


def cancelled_in(results: list, taken: int) -> list[str]:
    return sorted(m.decode() for m in results[taken])


def per_minute(*, minutes: int = 5, now: float | None = None) -> list[int]:
    """Heartbeats received in each of the last `minutes` whole minutes, oldest first."""
    current = int((time.time() if now is None else now) // 60)
    counts = client().mget([_key("per-minute", m) for m in range(current - minutes, current)])
    return [int(c or 0) for c in counts]


def flag_cancelled(unit_pk: int, task_ids: list[str]) -> None:
    """Tell the unit, at its next heartbeat, that it must stop these tasks."""
    pipe = client().pipeline(transaction=True)
    pipe.sadd(_key("cancel", unit_pk), *task_ids)
    pipe.expire(_key("cancel", unit_pk), CANCEL_FLAG_TTL)
    pipe.execute()


def latest(*, after: float = 0.0) -> dict[int, Beat]:
    """Every unit's latest heartbeat newer than `after` (unix time), by unit row id."""
    heard = client().zrangebyscore(_key("beats"), f"({after}", "+inf")
    if not heard:
        return {}
    pipe = client().pipeline(transaction=False)
    for member in heard:
        pipe.hgetall(_key("beat", member.decode()))
    beats = {}
    for member, fields in zip(heard, pipe.execute(), strict=True):
        if fields:
            beats[int(member)] = Beat(at=float(fields[b"at"]), load=int(fields[b"load"]),
                                      metrics=json.loads(fields[b"metrics"]))
    return beats


def latest_at(unit_pks: list[int]) -> dict[int, float]:
    """The time (unix) of the latest heartbeat of each of these units that Redis holds, in
    one round trip whatever their number (the pages show a list of units)."""
    if not unit_pks:
        return {}
    pipe = client().pipeline(transaction=False)
    for pk in unit_pks:
        pipe.zscore(_key("beats"), str(pk))
    return {pk: float(at) for pk, at in zip(unit_pks, pipe.execute(), strict=True)
            if at is not None}


def heard_since(now: float | None = None) -> float:
    """Since when (unix time) this Redis has been keeping heartbeats: set on first use, so
    an empty Redis (restarted, flushed) starts the clock again."""
    now = time.time() if now is None else now
    key = _key("since")
    pipe = client().pipeline(transaction=True)
    pipe.set(key, now, nx=True)
    pipe.get(key)
    return float(pipe.execute()[1])


def forget(unit_pk: int) -> None:
    pipe = client().pipeline(transaction=True)
    pipe.zrem(_key("beats"), str(unit_pk))
    pipe.delete(_key("beat", unit_pk), _key("cancel", unit_pk))
    pipe.execute()
