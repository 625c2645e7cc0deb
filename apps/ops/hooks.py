"""The ops app's hooks, registered in AppConfig.ready."""

from __future__ import annotations

from apps.core.events import subscribe

from . import subscribers


def register() -> None:
    # Every event, after commit, to the live stream (through the outbox thread).
    subscribe("*")(subscribers.broadcast_to_live_pages)
