"""The login counters: exact under concurrency, windowed, and failing open without Redis."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest

from apps.accounts import ratelimit
from apps.accounts.services import client_rate_key


@pytest.fixture
def key():
    name = f"test:{uuid.uuid4().hex}"
    yield name
    ratelimit.get_client().delete(ratelimit.KEY_PREFIX + name)


def test_twenty_concurrent_hits_with_limit_ten_allow_exactly_ten(key):
    barrier = threading.Barrier(20)
    results: list[bool] = []
    results_lock = threading.Lock()

    def attempt():
        barrier.wait()  # all threads hit Redis at once
        allowed, _ = ratelimit.hit(key, limit=10, window=60)
        with results_lock:
            results.append(allowed)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(results) == 20
    assert results.count(True) == 10
    assert int(ratelimit.get_client().get(ratelimit.KEY_PREFIX + key)) == 20


def test_hit_over_the_limit_reports_seconds_left_in_the_window(key):
    assert ratelimit.hit(key, limit=1, window=30) == (True, 0)

    allowed, retry_after = ratelimit.hit(key, limit=1, window=30)

    assert allowed is False
    assert 1 <= retry_after <= 30


def test_counter_starts_over_when_the_window_ends(key):
    assert ratelimit.hit(key, limit=1, window=1)[0] is True
    assert ratelimit.hit(key, limit=1, window=1)[0] is False

    time.sleep(1.5)

    assert ratelimit.hit(key, limit=1, window=1)[0] is True


def test_counter_without_expiry_is_repaired_instead_of_blocking_forever(key):
    ratelimit.get_client().set(ratelimit.KEY_PREFIX + key, 5)  # e.g. left by an old deploy

    ratelimit.hit(key, limit=10, window=30)

    assert 0 < ratelimit.get_client().ttl(ratelimit.KEY_PREFIX + key) <= 30


def test_unreachable_redis_fails_open_with_a_warning(settings, caplog):
    settings.COUNTERS_REDIS_URL = "redis://127.0.0.1:1/0"
    ratelimit.reset_client()

    with caplog.at_level(logging.WARNING, logger="apps.accounts.ratelimit"):
        results = [ratelimit.hit("test:down", limit=1, window=60) for _ in range(3)]

    assert results == [(True, 0)] * 3
    assert "rate limiter unavailable" in caplog.text


def test_client_is_rebuilt_from_settings_after_reset(settings):
    settings.COUNTERS_REDIS_URL = "redis://127.0.0.1:1/7"
    ratelimit.reset_client()

    kwargs = ratelimit.get_client().connection_pool.connection_kwargs

    assert (kwargs["port"], kwargs["db"]) == (1, 7)


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("192.0.2.10", "192.0.2.10"),
        ("::ffff:192.0.2.10", "192.0.2.10"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("", "unknown"),
    ],
)
def test_ipv6_clients_are_counted_per_64_network(address, bucket):
    assert client_rate_key(ip=address) == bucket
