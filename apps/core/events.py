"""Domain events, published after the transaction that caused them commits.

A service calls `emit(name, payload)` inside its transaction; subscribers (live pages, metrics,
Celery dispatch, callbacks) run only once the data they describe is committed, and a failing
subscriber is logged, never raised: it must not undo or break the change that happened.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

Subscriber = Callable[[str, dict[str, Any]], None]
_subscribers: dict[str, list[Subscriber]] = defaultdict(list)


def subscribe(*names: str) -> Callable[[Subscriber], Subscriber]:
    """Register a function for events by name; "*" receives every event."""

    def register(func: Subscriber) -> Subscriber:
        for name in names:
            if func not in _subscribers[name]:
                _subscribers[name].append(func)
        return func

    return register


def emit(name: str, payload: dict[str, Any], *, using: str | None = None) -> None:
    transaction.on_commit(partial(deliver, name, payload), using=using)


def deliver(name: str, payload: dict[str, Any]) -> None:
    for subscriber in (*_subscribers.get(name, ()), *_subscribers.get("*", ())):
        try:
            subscriber(name, payload)
        except Exception:  # a subscriber must never break the caller
            logger.exception("event subscriber %r failed for %s", subscriber, name)
