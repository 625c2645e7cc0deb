"""The beat lease on a real Redis: one holder, renewals, loss, monotonic tokens, Redis down."""

from __future__ import annotations

import socket
import time
import uuid

import pytest
import redis
from django.conf import settings

from apps.schedules.leader import Elector, Lease
from taskmanage import embedded_redis
from tests.execution.test_redis_restart import start_redis


@pytest.fixture
def client():
    client = redis.Redis.from_url(settings.SCHEDULES_LEADER_REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def key(client):
    name = f"tm:test:lease:{uuid.uuid4().hex}"
    yield name
    client.delete(name, f"{name}:token")


def lease(client, key, *, ttl=1.0, holder=None) -> Lease:
    return Lease(client=client, key=key, ttl_seconds=ttl, holder=holder)


class Clock:
    """A monotonic clock the test moves: a process paused for a while, seen from inside."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_holder_at_a_time_and_each_acquisition_takes_a_higher_token(client, key):
    first, second = lease(client, key, ttl=0.3), lease(client, key, ttl=0.3)

    token = first.acquire()
    assert token is not None
    assert second.acquire() is None  # held
    assert first.acquire() is None  # SET NX: not even by its holder

    time.sleep(0.4)  # expired without renewals
    taken = second.acquire()
    assert taken is not None and taken > token
    assert first.renew() is False  # lost: a renewal never takes it back
    assert second.current_holder() == second.holder


def test_renewal_extends_the_lease_only_for_its_holder(client, key):
    holder, other = lease(client, key, ttl=0.5), lease(client, key, ttl=0.5)
    holder.acquire()

    for _ in range(4):  # 0.8 s in all: longer than one time to live
        time.sleep(0.2)
        assert holder.renew() is True
    assert other.renew() is False
    assert other.acquire() is None
    assert 0 < client.pttl(key) <= 500


def test_only_the_holder_releases(client, key):
    holder, other = lease(client, key), lease(client, key)
    holder.acquire()

    assert other.release() is False and holder.current_holder() == holder.holder
    assert holder.release() is True
    assert other.acquire() is not None


def test_the_token_is_lifted_above_a_floor_by_the_holder_only(client, key):
    holder, other = lease(client, key), lease(client, key)
    holder.acquire()

    assert other.lift_token_above(50) is None
    assert holder.lift_token_above(50) == 51
    assert holder.lift_token_above(10) == 52  # never lowered


def test_the_elector_leads_renews_and_stops_leading_when_its_own_clock_says_so(client, key):
    clock = Clock()
    elector = Elector(lease(client, key, ttl=1.0), every=0.3, ttl=1.0, clock=clock)

    elector.step()
    token = elector.token()
    assert token is not None
    clock.now += 0.9
    elector.step()  # renewed: valid for another second from here
    clock.now += 0.9
    assert elector.token() == token
    # Paused past its lease (no step ran): it stops leading before it learns anything from
    # Redis, even though Redis still names it the holder.
    clock.now += 1.5
    assert elector.token() is None
    assert client.get(key).decode() == elector.lease.holder


def test_the_elector_stands_by_when_another_holds_the_lease_and_takes_over_after(client, key):
    leader = lease(client, key, ttl=0.3)
    leader.acquire()
    standby = Elector(lease(client, key, ttl=0.3), every=0.1, ttl=0.3)

    standby.step()
    assert standby.token() is None
    time.sleep(0.4)  # the leader died: no renewals
    standby.step()
    assert standby.token() is not None


def test_an_elector_that_loses_the_lease_says_so_on_its_next_step(client, key):
    elector = Elector(lease(client, key, ttl=0.3), every=0.1, ttl=0.3)
    elector.step()
    time.sleep(0.4)
    lease(client, key, ttl=5).acquire()  # someone else took it meanwhile

    elector.step()

    assert elector.token() is None


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_redis_down_nobody_leads_and_nothing_raises():
    dead = redis.Redis(port=_closed_port(), socket_timeout=0.2, socket_connect_timeout=0.2)
    elector = Elector(Lease(client=dead, key="tm:test:down", ttl_seconds=1.0), every=0.1,
                      ttl=1.0)

    for _ in range(3):
        elector.step()  # logged once, never raised

    assert elector.token() is None


@pytest.mark.skipif(not embedded_redis.redis_executable(), reason="needs a redis-server binary")
def test_a_leader_cut_off_from_redis_stops_leading_and_a_restarted_redis_elects_again():
    port = _closed_port()
    servers = [start_redis(port)]
    client = redis.Redis(port=port, socket_timeout=0.2, socket_connect_timeout=0.2)
    try:
        elector = Elector(Lease(client=client, key="tm:test:restart", ttl_seconds=0.5),
                          every=0.1, ttl=0.5)
        elector.step()
        assert elector.token() == 1
        servers[0].kill()
        servers[0].wait(10)
        time.sleep(0.6)
        elector.step()  # Redis down: the renewal fails quietly
        assert elector.token() is None

        servers.append(start_redis(port))  # back, empty: the lease and the counter are gone
        elector.step()  # renewal answers "not yours": the elector lets go
        elector.step()  # and acquires afresh
        assert elector.token() == 1  # the counter restarted: the fence lifts it (test_fencing)
    finally:
        client.close()
        for server in servers:
            server.kill()
            server.wait(10)
