"""The cache backend: Django's Redis cache, for which Redis being away is a miss, not an error.

Nothing kept in this cache is the only copy of anything: snapshots of counts, figures cached
for a few seconds, the metrics' gauges. Each can be read again from PostgreSQL. Django's own
backend raises on a refused connection or a timeout, which turned a stopped or frozen Redis
into a 500 on the dashboard and the stats API. Here a read that fails is a miss (the caller
computes the value) and a write that fails is skipped, so the pages keep answering, slower,
until Redis is back.

`incr`, `decr` and `clear` still raise: a counter that silently stays at zero would be a
wrong answer, not a slower one, and their callers decide what a failure means. A delete
that fails leaves the old entry to its timeout, which every entry here has.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)
# A down Redis fails every call of every request: one warning per interval per process says
# it without flooding the log.
WARN_EVERY_SECONDS = 30.0
_last_warned = 0.0


def _warn(operation: str, exc: RedisError) -> None:
    global _last_warned
    now = time.monotonic()
    if now - _last_warned >= WARN_EVERY_SECONDS:
        _last_warned = now
        logger.warning("cache %s failed, carrying on without the cache: %s", operation, exc)


def _or_else(fallback: Callable[..., Any]):
    """Django's method, or, when Redis fails, what `fallback` makes of the same arguments."""
    def wrap(method):
        @functools.wraps(method)
        def tolerant(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except RedisError as exc:
                _warn(method.__name__, exc)
                return fallback(*args, **kwargs)
        return tolerant
    return wrap


def _given_default(key, default=None, version=None):
    return default


def _nothing(*args, **kwargs) -> None:
    return None


class TolerantRedisCache(RedisCache):
    # Reads miss; writes are skipped and say so as Django's do when they did not store.
    get = _or_else(_given_default)(RedisCache.get)
    get_many = _or_else(lambda *args, **kwargs: {})(RedisCache.get_many)
    has_key = _or_else(lambda *args, **kwargs: False)(RedisCache.has_key)
    set = _or_else(_nothing)(RedisCache.set)
    set_many = _or_else(lambda data, *args, **kwargs: list(data))(RedisCache.set_many)
    add = _or_else(lambda *args, **kwargs: False)(RedisCache.add)
    touch = _or_else(lambda *args, **kwargs: False)(RedisCache.touch)
    delete = _or_else(lambda *args, **kwargs: False)(RedisCache.delete)
    delete_many = _or_else(_nothing)(RedisCache.delete_many)
