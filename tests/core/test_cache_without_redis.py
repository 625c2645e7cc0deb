"""The cache with Redis stopped or frozen: a miss, never an error, so pages keep answering."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from django.core.cache import cache
from redis.exceptions import RedisError

from apps.core.cache import TolerantRedisCache

DEAD_REDIS = "redis://127.0.0.1:1/1"  # nothing listens on port 1


def cache_at(location: str) -> TolerantRedisCache:
    return TolerantRedisCache(location, {"OPTIONS": {"socket_connect_timeout": 0.2,
                                                     "socket_timeout": 0.2}})


@pytest.fixture
def frozen_redis():
    """A server that accepts connections and never answers: Redis stopped with SIGSTOP."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            server.settimeout(0.1)
            while not stop.is_set():
                try:
                    accepted.append(server.accept()[0])
                except OSError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/1"
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()


@pytest.mark.parametrize("which", ["stopped", "frozen"])
def test_reads_miss_and_writes_are_skipped_when_redis_is_away(which, request):
    location = DEAD_REDIS if which == "stopped" else request.getfixturevalue("frozen_redis")
    away = cache_at(location)
    started = time.monotonic()

    assert away.get("k", "default") == "default"
    assert away.get_many(["a", "b"]) == {}
    assert away.has_key("k") is False
    away.set("k", 1)
    assert away.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert away.add("k", 1) is False
    assert away.get_or_set("k", lambda: "computed") == "computed"
    assert away.delete("k") is False
    away.delete_many(["a"])
    # Each call gives up after the socket timeouts, not the OS's default of minutes.
    assert time.monotonic() - started < 10


def test_counters_still_raise_when_redis_is_away():
    # A counter that silently stayed at zero would be a wrong answer, not a slower one.
    with pytest.raises(RedisError):
        cache_at(DEAD_REDIS).incr("hits")


def test_the_cache_works_as_djangos_when_redis_is_there():
    cache.set("tolerant-cache-probe", {"n": 1}, timeout=5)
    assert cache.get("tolerant-cache-probe") == {"n": 1}
    assert cache.delete("tolerant-cache-probe") is True
    assert cache.get("tolerant-cache-probe") is None


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/dashboard/", "/api/v1/stats/overview"])
def test_the_dashboard_and_stats_answer_with_the_cache_redis_stopped(client, settings, olga,
                                                                    url):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": DEAD_REDIS}}
    client.force_login(olga)

    response = client.get(url)

    assert response.status_code == 200
