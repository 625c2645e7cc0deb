"""API throttles counted with one atomic Redis INCR per request.

DRF's own throttles keep every request's timestamp in one cache entry: a read and a write per
request, a value that grows with traffic, and counts that race under concurrency. A fixed
window counter (apps.accounts.ratelimit.hit) is one round trip, constant size and exact.
"""

from __future__ import annotations

from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from .ratelimit import hit


class CounterThrottleMixin:
    _retry_after = 0

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        allowed, self._retry_after = hit(key, limit=self.num_requests, window=self.duration)
        return allowed

    def wait(self) -> float | None:
        return self._retry_after or None


class UserCounterThrottle(CounterThrottleMixin, UserRateThrottle):
    def get_cache_key(self, request, view):
        # Machines (execution units) have no user row to count by, and their heartbeats and
        # claims are the system's hottest path: they are not throttled as people are.
        if getattr(request.user, "is_machine", False):
            return None
        return super().get_cache_key(request, view)


class AnonCounterThrottle(CounterThrottleMixin, AnonRateThrottle):
    pass
