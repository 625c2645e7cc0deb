"""The staff app's hooks, registered in AppConfig.ready."""

from __future__ import annotations

from apps.tasks.holding import HookOrder, on_transition

from . import services


def register() -> None:
    # A guard: it may refuse a hand-over (no room), so it runs before any listener writes.
    on_transition(services.load_follow_task, order=HookOrder.GUARD)
