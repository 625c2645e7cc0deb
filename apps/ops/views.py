"""Health endpoints for load balancers, orchestrators and on-call engineers.

Plain Django views, not DRF: no authentication, no throttling (a probe must never be told to
slow down) and, being GET/HEAD only, nothing for CSRF to check.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import health

Check = Callable[[], tuple[bool, str]]


def _report(checks: dict[str, Check]) -> JsonResponse:
    results = {}
    for name, check in checks.items():
        started = time.perf_counter()
        ok, detail = check()
        results[name] = {
            "status": "ok" if ok else "error",
            "detail": detail,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        }
    healthy = all(result["status"] == "ok" for result in results.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": results},
        status=200 if healthy else 503,
    )


@never_cache
@require_safe
def health_all(request):
    return _report({"database": health.check_database, "redis": health.check_redis})


@never_cache
@require_safe
def health_database(request):
    return _report({"database": health.check_database})


@never_cache
@require_safe
def health_redis(request):
    return _report({"redis": health.check_redis})
