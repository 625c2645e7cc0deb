"""/health, /health/database and /health/redis against the real PostgreSQL and Redis."""

from __future__ import annotations

import sqlite3

import pytest
from django.db import connection

ALL = ("/health", "/health/database", "/health/redis")
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.mark.django_db
@pytest.mark.parametrize("url", ALL)
def test_healthy_services_answer_200_ok(client, url):
    response = client.get(url)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]
    assert all(check["status"] == "ok" for check in body["checks"].values())
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_overall_health_reports_each_check(client):
    body = client.get("/health").json()

    assert set(body["checks"]) == {"database", "redis"}


@pytest.mark.django_db
def test_health_needs_no_login_and_is_never_throttled(client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "1/min", "user": "1/min"},
    }

    statuses = [client.get("/health/database").status_code for _ in range(5)]

    assert statuses == [200] * 5


@pytest.mark.django_db
def test_health_refuses_writes(client):
    assert client.post("/health").status_code == 405


@pytest.mark.django_db
def test_redis_down_fails_redis_and_overall_but_not_database(client, settings):
    settings.REDIS_URL = DEAD_REDIS

    redis_only = client.get("/health/redis")
    overall = client.get("/health")
    database = client.get("/health/database")

    assert redis_only.status_code == 503
    assert redis_only.json()["checks"]["redis"]["status"] == "error"
    assert overall.status_code == 503
    assert overall.json()["status"] == "error"
    assert overall.json()["checks"]["database"]["status"] == "ok"
    assert database.status_code == 200


def drop_connections() -> None:
    """Close the connection and, with a pool, the pool, so the next connect uses the
    current settings (a pool keeps the ones it was made with)."""
    connection.close()
    if getattr(connection, "pool", None) is not None:
        connection.close_pool()


@pytest.mark.django_db(transaction=True)
def test_database_down_fails_database_check_with_503(client):
    original = dict(connection.settings_dict)
    # The in-memory SQLite test database lives only while a connection holds it: keep one open,
    # or closing ours would empty it for every later test in this process.
    keeper = (sqlite3.connect(original["NAME"], uri=True)
              if connection.vendor == "sqlite" and connection.is_in_memory_db() else None)
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-dir/db.sqlite3"
    else:
        connection.settings_dict["PORT"] = "1"  # nothing listens there: a real refused connect
    drop_connections()
    try:
        database = client.get("/health/database")
        overall = client.get("/health")
    finally:
        connection.settings_dict.update(original)
        drop_connections()
        connection.ensure_connection()
        if keeper is not None:
            keeper.close()

    assert database.status_code == 503
    assert database.json() == {
        "status": "error",
        "checks": {"database": database.json()["checks"]["database"]},
    }
    assert database.json()["checks"]["database"]["status"] == "error"
    assert database.json()["checks"]["database"]["detail"] == "OperationalError"
    assert overall.status_code == 503
    # And once the database is back, so is the check (the broken connection was dropped).
    assert client.get("/health/database").status_code == 200
