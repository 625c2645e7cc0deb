"""Callback deliveries' metrics, counted in the Celery worker that makes each attempt."""

from __future__ import annotations

from prometheus_client import Counter

ATTEMPTS = Counter(
    "taskmanage_callback_attempts_total",
    "Callback POSTs made, by outcome: delivered, retrying (will try again), failed (for good)",
    ["outcome"])
