"""Who picks up queued work: a registry of dispatchers, one per assignee kind.

The assignment engine (staff) registers itself here; execution units pull their work by
claiming, so they need no dispatcher. A task type whose kind has no dispatcher simply waits
in the queue, visible and counted, until one exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Dispatcher = Callable[[Sequence[str]], None]
_dispatchers: dict[str, Dispatcher] = {}


def register_dispatcher(kind: str, func: Dispatcher) -> None:
    _dispatchers[kind] = func


def dispatcher_for(kind: str) -> Dispatcher | None:
    return _dispatchers.get(kind)
