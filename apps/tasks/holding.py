"""In-transaction hooks on task creation and transitions: who holds a task, and what follows.

Every transition calls the listeners inside its transaction, after the model changed and
before the row is saved. A listener may refuse (raise), which undoes the whole transition:
that is how the staff app keeps anyone from going over capacity, and how the assignment app
keeps its records in step with the task. (Post-commit subscribers are apps.core.events.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from apps.core.actors import Actor

from .models import Task
from .states import HELD_STATES


@dataclass(frozen=True)
class Change:
    task: Task
    transition: str
    from_status: str
    before: int | None  # user id that held the task, or None
    after: int | None  # user id that holds it now, or None
    by: Actor
    reason: str
    # Why, as a tag the caller chose (e.g. the assignment app's Reason.LEAVE): what listeners
    # decide on, never the wording of `reason`, which is for people.
    cause: str = ""
    # The capacity the previous holder took for the task, which they now give back; what the
    # new holder takes is task.held_weight.
    released_weight: int = 0
    # Set by bulk hand-overs that took the new holder's capacity up front, in one statement
    # for the whole batch (the staff app's staff_take_capacity_many, a unit's claim).
    capacity_reserved: bool = False
    # The execution unit (row id) that held the task before and holds it now, or None.
    unit_before: int | None = None
    unit_after: int | None = None
    # Set by bulk reports that give the previous holder's capacity back themselves, in one
    # statement for the whole batch (a unit's batch of results).
    release_counted: bool = False

    @property
    def holder_changed(self) -> bool:
        return self.before != self.after


class HookOrder(IntEnum):
    """When a listener runs among the others: by this order, never by INSTALLED_APPS."""

    # May refuse the change (capacity): runs before anyone writes, so a refusal needs no
    # savepoint to undo what another listener wrote (see services.task_assign_locked).
    GUARD = 10
    # Keeps an app's own records in step with the task (assignments, approval requests).
    RECORD = 20


Listener = Callable[[Change], None]
_listeners: list[tuple[int, Listener]] = []


def on_transition(func: Listener, *, order: HookOrder) -> Listener:
    """Register `func` for every transition, at `order` (ties run in registration order)."""
    if all(f is not func for _, f in _listeners):
        _listeners.append((order, func))
        _listeners.sort(key=lambda item: item[0])  # stable: ties keep their order
    return func


def holder(status: str, user_id: int | None) -> int | None:
    return user_id if status in HELD_STATES else None


def weigh(task: Task, *, before: int | None, after: int | None) -> int:
    """On a change of holder, record on the task what the new holder takes (the type's weight
    now, or nothing) and return what the previous one gives back (what they took)."""
    if before == after:
        return 0
    released = task.held_weight if before is not None else 0
    task.held_weight = task.task_type.capacity_weight if after is not None else 0
    return released


def notify(change: Change) -> None:
    for _, listener in _listeners:
        listener(change)


CreatedListener = Callable[[list[Task], Actor], None]
_created_listeners: list[CreatedListener] = []


def on_created(func: CreatedListener) -> CreatedListener:
    """Called inside the creating transaction with the tasks just inserted (batch or one)."""
    if func not in _created_listeners:
        _created_listeners.append(func)
    return func


def notify_created(tasks: list[Task], by: Actor) -> None:
    for listener in _created_listeners:
        listener(tasks, by)


WrittenListener = Callable[[list[Task], Actor], None]
_written_listeners: list[WrittenListener] = []


def on_written(func: WrittenListener) -> WrittenListener:
    """Called inside the transaction with the tasks whose transition was just written (one, or
    a batch's): unlike `on_transition` listeners, which run before the row is saved, these
    read the database as it now is, e.g. every sibling of a batch of shards."""
    if func not in _written_listeners:
        _written_listeners.append(func)
    return func


def notify_written(tasks: list[Task], by: Actor) -> None:
    if tasks:
        for listener in _written_listeners:
            listener(tasks, by)
