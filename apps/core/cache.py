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

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
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


class TolerantRedisCache(RedisCache):
    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except RedisError as exc:
            _warn("get", exc)
            return default

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except RedisError as exc:
            _warn("get_many", exc)
            return {}

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except RedisError as exc:
            _warn("has_key", exc)
            return False

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            super().set(key, value, timeout, version)
        except RedisError as exc:
            _warn("set", exc)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set_many(data, timeout, version)
        except RedisError as exc:
            _warn("set_many", exc)
            return list(data)  # Django's answer for keys that were not set

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except RedisError as exc:
            _warn("add", exc)
            return False

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().touch(key, timeout, version)
        except RedisError as exc:
            _warn("touch", exc)
            return False

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except RedisError as exc:
            _warn("delete", exc)
            return False

    def delete_many(self, keys, version=None):
        try:
            super().delete_many(keys, version)
        except RedisError as exc:
            _warn("delete_many", exc)
