"""Units' routine heartbeats and claims stay out of the access log; their failures do not."""

from __future__ import annotations

import logging

import pytest

from apps.execution.logs import QuietUnitTraffic


def access(path: str, status: int) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                             '%s - "%s %s HTTP/%s" %d',
                             ("127.0.0.1:5000", "POST", path, "1.1", status), None)


@pytest.mark.parametrize("path", ["/api/v1/execution-units/w-1/heartbeat",
                                  "/api/v1/execution-units/w-1/claim"])
def test_a_units_routine_calls_are_quiet(path):
    assert not QuietUnitTraffic().filter(access(path, 200))


@pytest.mark.parametrize("path,status", [
    ("/api/v1/execution-units/w-1/heartbeat", 401), ("/api/v1/execution-units/w-1/claim", 403),
    ("/api/v1/execution-units/w-1/results", 200), ("/api/v1/tasks", 200),
])
def test_failures_and_other_calls_are_logged(path, status):
    assert QuietUnitTraffic().filter(access(path, status))
