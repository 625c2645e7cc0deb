"""Health checks for probes and on-call: each answers (ok, detail) and never raises.

`detail` is short and safe to show unauthenticated ("ok" or the error's class name); the full
error goes to the log, where hostnames and database names belong.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db import connections, transaction

logger = logging.getLogger(__name__)

# A probe must answer before its own deadline (Kubernetes defaults to 1 s); a check that takes
# longer than this counts as failed rather than hanging the probe.
DATABASE_STATEMENT_TIMEOUT_MS = 2000
REDIS_TIMEOUT_SECONDS = 1.0


def check_database(alias: str = "default") -> tuple[bool, str]:
    """Run `SELECT 1` on the connection `alias` (the one requests use)."""
    connection = connections[alias]
    try:
        if connection.vendor == "postgresql":
            # SET LOCAL ends with the transaction, so the timeout never leaks into the pooled
            # connection that the next request reuses.
            with transaction.atomic(using=alias), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {DATABASE_STATEMENT_TIMEOUT_MS}")
                cursor.execute("SELECT 1")
                cursor.fetchone()
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
    except Exception as exc:
        logger.warning("health: database %r unavailable: %s", alias, exc)
        if not connection.in_atomic_block:
            # Drop a broken persistent connection now, so the next check reconnects instead of
            # failing on the dead socket until CONN_MAX_AGE runs out.
            connection.close()
        return False, type(exc).__name__
    return True, "ok"


def check_redis() -> tuple[bool, str]:
    """PING the Redis server at settings.REDIS_URL (broker, cache and channels all live there)."""
    # A fresh connection each time: the question is whether Redis answers now, which a pooled
    # socket opened earlier does not prove.
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    except Exception as exc:
        logger.warning("health: redis unavailable: %s", exc)
        return False, type(exc).__name__
    finally:
        client.close()
    return True, "ok"
