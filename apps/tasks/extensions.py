"""Extension points of the task type and of the task admin, owned by apps.tasks.

Apps above tasks (staff, assignment, approvals) add to a task type (API fields, how to read
and write them, admin inlines) and to the task admin (inlines, actions) here, from their
AppConfig.ready through their one `hooks.py` module each. So apps.tasks never imports them,
and no app replaces another's admin class: the task and task type admins are built once in
apps/tasks/admin.py and read what is registered here when they are used.

Order is explicit: contributions are used by `order`, then app label, never by the order
INSTALLED_APPS happened to load them in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from apps.core.actors import Actor

    from .models import TaskType


def _itself(task_type: TaskType) -> Any:
    return task_type


@dataclass(frozen=True)
class TaskTypeContribution:
    """What one app adds to a task type.

    - `fields()`: fresh serializer fields, by name, in order; each reads its value (by its
      own name) from `read(task_type)`, and writes through `write`. A field's `source` stays
      its name: the validated value reaches `write` under that name.
    - `after`: field name -> the task type field it follows in the API (the schema's order);
      a field not named here comes last.
    - `write(task_type=, values=, created=, by=)`: called by the task type services inside
      their transaction, after the type itself is saved, with this app's validated values
      (only those given; on create possibly none). It raises InvalidInput to refuse.
    - `check(task_type=, by=)`: called by the task type services inside their transaction
      after every create and update, once the type and every app's share are written,
      shares given or not: it refuses (InvalidInput) what a change of the type's own fields
      makes wrong for this app (e.g. a new `assignee_kind` its assignment strategy cannot
      serve).
    - `prefetch`: what listing many types needs for `read` (prefetch_related lookups).
    - `admin_inlines`, `admin_columns`: shown on the task type admin (columns are callables
      taking the type, e.g. @admin.display functions).
    """

    app: str
    order: int
    fields: Callable[[], Mapping[str, Any]] = dict
    read: Callable[[TaskType], Any] = _itself
    write: Callable[..., None] | None = None
    check: Callable[..., None] | None = None
    after: Mapping[str, str] = field(default_factory=dict)
    prefetch: tuple[Any, ...] = ()
    admin_inlines: tuple[type, ...] = ()
    admin_columns: tuple[Callable[[TaskType], Any], ...] = ()


@dataclass(frozen=True)
class TaskAdminContribution:
    """What one app adds to the task admin page: inlines below the history, bulk actions
    (admin action functions taking (modeladmin, request, queryset)), and read-only panels:
    (fieldset title, callables taking the task, e.g. @admin.display functions), shown on a
    task's page below its own fields."""

    app: str
    order: int
    inlines: tuple[type, ...] = ()
    actions: tuple[Callable[..., Any], ...] = ()
    panels: tuple[tuple[str, tuple[Callable[[Any], Any], ...]], ...] = ()


_task_type: dict[str, TaskTypeContribution] = {}
_task_admin: dict[str, TaskAdminContribution] = {}


def contribute_to_task_type(contribution: TaskTypeContribution) -> None:
    """Register (or replace: ready() may run twice in tests) an app's contribution."""
    _task_type[contribution.app] = contribution


def contribute_to_task_admin(contribution: TaskAdminContribution) -> None:
    _task_admin[contribution.app] = contribution


def task_type_contributions() -> list[TaskTypeContribution]:
    return sorted(_task_type.values(), key=lambda c: (c.order, c.app))


def task_admin_contributions() -> list[TaskAdminContribution]:
    return sorted(_task_admin.values(), key=lambda c: (c.order, c.app))


# --- what the task type's API, services and admin ask -----------------------------------------
def task_type_fields(core: Mapping[str, Any]) -> dict[str, Any]:
    """The task type serializer's fields: `core` (its own, in order) with every app's fields
    placed after the field each names, reading from what that app's `read` returns."""
    out = dict(core)
    for c in task_type_contributions():
        for name, fld in c.fields().items():
            if name in out:
                raise ImproperlyConfigured(f"{c.app} contributes task type field "
                                                f"{name!r}, which exists already")
            _read_through(fld, c.read)
            anchor = c.after.get(name)
            if anchor in out:
                names = list(out)
                names.insert(names.index(anchor) + 1, name)
                out[name] = fld
                out = {n: out[n] for n in names}
            else:
                out[name] = fld
    return out


def _read_through(fld: Any, read: Callable[[TaskType], Any]) -> None:
    # The field reads its attribute from read(task_type), e.g. a policy row or its defaults,
    # instead of from the task type: DRF's Field.get_attribute(instance) is the one seam.
    if read is _itself:
        return
    original = fld.get_attribute
    fld.get_attribute = lambda instance: original(read(instance))


def split_task_type_values(
    values: Mapping[str, Any], *, own: Iterable[str]
) -> tuple[dict[str, Any], list[tuple[TaskTypeContribution, dict[str, Any]]], list[str]]:
    """The values of the task type's own fields, each app's share, and names nobody owns."""
    own = set(own)
    mine = {k: v for k, v in values.items() if k in own}
    shares, claimed = [], set(mine)
    for c in task_type_contributions():
        names = set(c.fields())
        share = {k: v for k, v in values.items() if k in names}
        claimed |= set(share)
        shares.append((c, share))
    return mine, shares, sorted(set(values) - claimed)


def write_task_type_shares(task_type: TaskType, shares, *, created: bool, by: Actor) -> None:
    for c, share in shares:
        if c.write is not None and (share or created):
            c.write(task_type=task_type, values=share, created=created, by=by)
    for c, _ in shares:
        if c.check is not None:
            c.check(task_type=task_type, by=by)


def task_type_prefetches() -> list[Any]:
    return [p for c in task_type_contributions() for p in c.prefetch]


def task_type_admin_inlines() -> list[type]:
    return [i for c in task_type_contributions() for i in c.admin_inlines]


def task_type_admin_columns() -> list[Callable[[TaskType], Any]]:
    return [col for c in task_type_contributions() for col in c.admin_columns]


def task_admin_inlines() -> list[type]:
    return [i for c in task_admin_contributions() for i in c.inlines]


def task_admin_actions() -> list[Callable[..., Any]]:
    return [a for c in task_admin_contributions() for a in c.actions]


def task_admin_panels() -> list[tuple[str, tuple[Callable[[Any], Any], ...]]]:
    return [p for c in task_admin_contributions() for p in c.panels]


# --- fields other apps add to a task on create ------------------------------------------------
@dataclass(frozen=True)
class TaskCreateField:
    """A field one app adds to a task's create body and to its answer, kept in that app's own
    tables (apps.tasks has no column for it).

    - `field()`: a fresh serializer field that validates the value on create (its errors name
      `name`).
    - `write(pairs, by=)`: called inside the create transaction, after the tasks are inserted,
      with (task, value) for every new task, value None where the field was not given; it
      raises InvalidInput to refuse (the whole create rolls back).
    - `read(task)`: the value shown in the task's answer (None when it has none). A writer may
      leave the value on the instances it wrote, so that answering a create costs no query.
    - `schema_field()`: a fresh read-only serializer field describing the value in the answer.
    - `joins`: what reading many tasks needs for `read` (select_related lookups, e.g. a
      reverse one-to-one: joined, so a list of tasks costs no extra query).
    """

    app: str
    name: str
    field: Callable[[], Any]
    write: Callable[..., None]
    read: Callable[[Any], Any]
    schema_field: Callable[[], Any]
    joins: tuple[str, ...] = ()


_task_create: dict[str, TaskCreateField] = {}


def _contribute(registry: dict, contribution: Any, what: str) -> None:
    """Register (or replace: ready() may run twice in tests) one app's contribution; two apps
    may not contribute the same name."""
    for other in registry.values():
        if other.name == contribution.name and other.app != contribution.app:
            raise ImproperlyConfigured(f"{contribution.app} contributes {what} "
                                       f"{contribution.name!r}, which {other.app} does already")
    registry[contribution.app] = contribution


def contribute_task_create_field(contribution: TaskCreateField) -> None:
    _contribute(_task_create, contribution, "task field")


def task_create_fields() -> list[TaskCreateField]:
    return sorted(_task_create.values(), key=lambda c: (c.name, c.app))


def task_create_joins() -> list[str]:
    return [j for c in task_create_fields() for j in c.joins]


def write_task_create_fields(tasks: Sequence[Any], extras: Sequence[Mapping[str, Any]], *,
                             by: Actor) -> None:
    """Hand each contributed field's values (of the tasks given it) to its owner."""
    for c in task_create_fields():
        c.write([(task, extra.get(c.name)) for task, extra in zip(tasks, extras, strict=True)],
                by=by)


# --- values other apps add to the answers that show a task for its work ---------------------
@dataclass(frozen=True)
class TaskDetailField:
    """A value one app adds to every answer of one task (its create, its detail
    GET /api/v1/tasks/{id}, each transition) and to a unit's claim. Not to lists, which would
    pay its query on every page.

    - `load(tasks, user=)`: reads the value of every one of these tasks in one query at most
      (none when it can tell from the tasks that none has one) and leaves it where `read`
      finds it. `user` is the caller (request.user: a person, or a unit's principal), who may
      see these tasks; the app decides what of its value they are shown (None: nothing).
    - `read(task)`: the value (None when the task has none).
    - `schema_field()`: a fresh read-only serializer field describing the value.
    """

    app: str
    name: str
    load: Callable[..., None]
    read: Callable[[Any], Any]
    schema_field: Callable[[], Any]


_task_detail: dict[str, TaskDetailField] = {}


def contribute_task_detail_field(contribution: TaskDetailField) -> None:
    _contribute(_task_detail, contribution, "task detail value")


def task_detail_fields() -> list[TaskDetailField]:
    return sorted(_task_detail.values(), key=lambda c: (c.name, c.app))


def load_task_detail_fields(tasks: Sequence[Any], *, user: Any) -> None:
    """Every contributed value of these tasks, each app's in one query for them all."""
    if tasks:
        for c in task_detail_fields():
            c.load(tasks, user=user)
