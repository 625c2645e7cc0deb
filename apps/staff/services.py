"""Every change to staff, skills, teams and leave; and the load each person carries."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, OuterRef, ProtectedError, Subquery, Sum
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from apps.core.db import duplicates_refused, update_rows
from apps.core.exceptions import Conflict, InvalidInput
from apps.tasks.holding import Change
from apps.tasks.models import Task, TaskType
from apps.tasks.states import HELD_STATES

from .models import Availability, Leave, RequiredSkill, Skill, Staff, StaffSkill, Team


class CapacityExceeded(Conflict):
    """Taking this task would put its holder over capacity."""


# --- load: exact under concurrency ------------------------------------------------------------
def staff_load_follow_task(change: Change) -> None:
    """A transition listener (apps.staff.hooks): runs inside the transition's transaction,
    before the task row is saved, and refuses a hand-over that does not fit (CapacityExceeded).
    """
    if not change.holder_changed:
        return
    # Exactly what was taken at hand-over goes back, whatever the type weighs now.
    if change.before is not None and change.released_weight:
        Staff.objects.filter(user_id=change.before).update(
            load=F("load") - change.released_weight)
    if change.after is not None and not change.capacity_reserved:
        staff_take_capacity(user_id=change.after, weight=change.task.held_weight)


def staff_take_capacity(*, user_id: int, weight: int) -> None:
    """Add `weight` to a person's load only if it fits: one conditional UPDATE.

    The row lock the UPDATE takes serialises concurrent hand-overs to the same person, and the
    condition is evaluated on the locked, current row, so two workers can never both fit a
    task into the last free slot.
    """
    took = Staff.objects.filter(
        user_id=user_id, load__lte=F("capacity") - weight
    ).update(load=F("load") + weight, last_assigned_at=Now())
    if took:
        return
    if not Staff.objects.filter(user_id=user_id).exists():
        return  # not staff (an operator holding a task by hand): no capacity to keep
    raise CapacityExceeded(f"taking this task would put user {user_id} over capacity")


def staff_take_capacity_many(
    *, requests: Mapping[int, Sequence[tuple[Hashable, int]]]
) -> set:
    """Take capacity for a whole batch of hand-overs: one locking read, one write.

    `requests` maps a user id to (key, weight) asks in the order they should be served; the
    keys of the asks that fit are returned. People's rows are locked with SKIP LOCKED: a person
    another worker is handing work to right now is skipped (their asks are refused for this
    batch), never waited for, so two batch workers can never deadlock on each other. Loads
    are read under the lock, so what fits is decided on current figures.
    """
    if not requests:
        return set()
    rows = {
        user_id: (pk, load, capacity)
        for pk, user_id, load, capacity in Staff.objects.filter(user_id__in=list(requests))
        .select_for_update(skip_locked=True).values_list("pk", "user_id", "load", "capacity")
    }
    missing = set(requests) - set(rows)
    # Not locked: either busy in another worker, or not staff at all (an operator set as a
    # type's overflow assignee), whose load nobody keeps.
    not_staff = missing - set(Staff.objects.filter(user_id__in=missing).values_list(
        "user_id", flat=True)) if missing else set()
    granted: set = set()
    changed: list[Staff] = []
    now = timezone.now()
    for user_id, asks in requests.items():
        if user_id in not_staff:
            granted.update(key for key, _ in asks)
            continue
        if user_id not in rows:
            continue
        pk, load, capacity = rows[user_id]
        start = load
        for key, weight in asks:
            if load + weight <= capacity:
                load += weight
                granted.add(key)
        if load != start:
            changed.append(Staff(pk=pk, load=load, last_assigned_at=now))
    update_rows(Staff, ["load", "last_assigned_at"], changed)
    return granted


def staff_reconcile_load() -> int:
    """Recompute every load from the tasks held; returns how many were wrong and fixed.

    Loads move only through transitions, but a task deleted by hand or a bug must not leave a
    person looking busier (or freer) than they are for ever.
    """
    held = (
        Task.objects.filter(assignee_user_id=OuterRef("user_id"), status__in=HELD_STATES)
        .order_by().values("assignee_user_id")
        .annotate(total=Sum("held_weight")).values("total")
    )
    with transaction.atomic():
        actual = Staff.objects.select_for_update().annotate(
            actual=Coalesce(Subquery(held), 0)
        ).exclude(load=F("actual"))
        wrong = list(actual.values_list("pk", "actual"))
        for pk, value in wrong:
            Staff.objects.filter(pk=pk).update(load=value)
    return len(wrong)


# --- people -----------------------------------------------------------------------------------
@duplicates_refused()
def staff_create(
    *, username: str, password: str | None, email: str = "", team: Team | None = None,
    capacity: int = 3, seniority: int = 1, rating: int = 3,
    availability: str = Availability.ACTIVE,
    skills: Iterable[tuple[Skill, int]] = (), first_name: str = "", last_name: str = "",
) -> Staff:
    """A new person: their sign-in account and their staff record, together or not at all."""
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=username, password=password, email=email,
            first_name=first_name, last_name=last_name,
        )
        return staff_enrol(user=user, team=team, capacity=capacity, seniority=seniority,
                           rating=rating, availability=availability, skills=skills)


@duplicates_refused()
def staff_enrol(
    *, user: Any, team: Team | None = None, capacity: int = 3, seniority: int = 1,
    rating: int = 3, availability: str = Availability.ACTIVE,
    skills: Iterable[tuple[Skill, int]] = (),
) -> Staff:
    """Make an existing account a member of staff (the admin's "add staff" page)."""
    with transaction.atomic():
        staff = Staff.objects.create(user=user, team=team, capacity=capacity,
                                     seniority=seniority, rating=rating,
                                     availability=availability)
        staff_set_skills(staff=staff, skills=skills)
    return staff


def staff_set_skills(*, staff: Staff, skills: Iterable[tuple[Skill, int]]) -> None:
    """Replace a person's skills with `skills` ((skill, level) pairs)."""
    StaffSkill.objects.filter(staff=staff).delete()
    StaffSkill.objects.bulk_create(
        StaffSkill(staff=staff, skill=skill, level=level) for skill, level in skills
    )


# --- catalogue: skills and teams --------------------------------------------------------------
@duplicates_refused()
def skill_create(*, name: str, description: str = "") -> Skill:
    with transaction.atomic():
        return Skill.objects.create(name=name, description=description)


@duplicates_refused()
def skill_update(*, skill: Skill, **fields: Any) -> Skill:
    return _update(skill, fields, allowed={"name", "description"})


def skill_delete(*, skill: Skill) -> None:
    try:
        with transaction.atomic():
            skill.delete()
    except ProtectedError as exc:
        # Deleting it would silently make task types easier to take; refuse instead.
        raise Conflict("skill is required by task types; remove it from them first") from exc


@duplicates_refused()
def team_create(*, name: str, manager: Any = None, parent: Team | None = None) -> Team:
    with transaction.atomic():
        return Team.objects.create(name=name, manager=manager, parent=parent)


@duplicates_refused()
def team_update(*, team: Team, **fields: Any) -> Team:
    if "parent" in fields:
        team_check_parent(team=team, parent=fields["parent"])
    return _update(team, fields, allowed={"name", "manager", "parent"})


def team_delete(*, team: Team) -> None:
    with transaction.atomic():
        team.delete()  # members and child teams are kept, team-less (SET_NULL)


def team_check_parent(*, team: Team, parent: Team | None) -> None:
    """Escalation walks up the parent chain, so the chain must never loop back."""
    seen: set[int] = set()
    while parent is not None and parent.pk not in seen:
        if parent.pk == team.pk:
            raise InvalidInput.on("parent", "A team cannot be inside itself.")
        seen.add(parent.pk)
        parent = parent.parent


def _not_settable(names: Iterable[str]) -> InvalidInput:
    return InvalidInput(fields={name: ["This field cannot be set here."] for name in sorted(names)})


def _update(obj: Any, fields: dict[str, Any], *, allowed: set[str]) -> Any:
    unknown = set(fields) - allowed
    if unknown:
        raise _not_settable(unknown)
    with transaction.atomic():
        for name, value in fields.items():
            setattr(obj, name, value)
        if fields:
            obj.save(update_fields=list(fields))
    return obj


# --- people: updates ----------------------------------------------------------------------------
STAFF_FIELDS = frozenset({"team", "capacity", "seniority", "rating", "availability"})


@duplicates_refused()
def staff_update(*, staff: Staff, **fields: Any) -> Staff:
    """Change a person's settings; `skills` ((skill, level) pairs) replaces them all.

    Writes with UPDATE on the named columns only: `load` moves concurrently
    (staff_load_follow_task), and a save() of the whole row would put back the value read at the
    start of the request.
    """
    skills = fields.pop("skills", None)
    unknown = set(fields) - STAFF_FIELDS
    if unknown:
        raise _not_settable(unknown)
    with transaction.atomic():
        if fields:
            Staff.objects.filter(pk=staff.pk).update(**fields)
        if skills is not None:
            staff_set_skills(staff=staff, skills=skills)
    return Staff.objects.select_related("user", "team").get(pk=staff.pk)


class StaffHoldsWork(Conflict):
    """Removing this person would strand the tasks they hold (HTTP 409, naming them)."""

    def __init__(self, username: str, task_ids: Sequence[str]):
        self.task_ids = list(task_ids)
        super().__init__(
            f"{username} holds {len(self.task_ids)} open task(s): "
            f"{', '.join(self.task_ids)}; reassign them or set the person unavailable first")

    def details(self) -> dict:
        return {"held_tasks": self.task_ids}


def staff_held_task_ids(*, staff: Staff) -> list[str]:
    return [str(pk) for pk in Task.objects.filter(
        assignee_user_id=staff.user_id, status__in=HELD_STATES).order_by("created_at", "id")
        .values_list("pk", flat=True)]


def staff_check_removable(*, staff: Staff) -> None:
    held = staff_held_task_ids(staff=staff)
    if held:
        raise StaffHoldsWork(staff.user.username, held)


def staff_delete(*, staff: Staff) -> None:
    """Remove someone from the staff (their user account stays), unless they hold work.

    The person's row lock orders this against hand-overs, which take capacity on that row:
    one that committed first is seen here as held work.
    """
    with transaction.atomic():
        locked = Staff.objects.select_for_update().select_related("user").get(pk=staff.pk)
        staff_check_removable(staff=locked)
        locked.delete()


# --- leave -------------------------------------------------------------------------------------
@duplicates_refused()
def leave_request(
    *, staff: Staff, start: datetime, end: datetime, reason: str = "",
    substitute: Staff | None = None,
) -> Leave:
    """A new leave, refused when it overlaps one the person already has."""
    with transaction.atomic():
        _lock_leaves_of(staff)
        leave_check(staff=staff, start=start, end=end, substitute=substitute)
        return Leave.objects.create(staff=staff, start=start, end=end, reason=reason,
                                    substitute=substitute)


@duplicates_refused()
def leave_update(*, leave: Leave, **fields: Any) -> Leave:
    unknown = set(fields) - {"start", "end", "reason", "substitute"}
    if unknown:
        raise _not_settable(unknown)
    with transaction.atomic():
        _lock_leaves_of(leave.staff)
        for name, value in fields.items():
            setattr(leave, name, value)
        leave_check(staff=leave.staff, start=leave.start, end=leave.end,
                    substitute=leave.substitute, exclude=leave.pk)
        if "start" in fields and leave.start > timezone.now():
            # Moved to the future: the sweep must hand their work back when it now begins.
            leave.started_handled_at = None
            fields["started_handled_at"] = None
        if fields:
            leave.save(update_fields=list(fields))
    return leave


def leave_delete(*, leave: Leave) -> None:
    with transaction.atomic():
        leave.delete()


def _lock_leaves_of(staff: Staff) -> None:
    # The person's row serialises their leave changes, so two overlapping requests sent at
    # once cannot both pass the overlap check.
    list(Staff.objects.select_for_update().filter(pk=staff.pk).values_list("pk", flat=True))


def leave_overlaps(*, staff: Staff, start: datetime, end: datetime,
                   exclude: int | None = None) -> Leave | None:
    return (Leave.objects.filter(staff=staff, start__lt=end, end__gt=start)
            .exclude(pk=exclude).order_by("start").first())


def leave_check(*, staff: Staff, start: datetime, end: datetime, substitute: Staff | None,
                exclude: int | None = None) -> None:
    """Every rule a leave keeps, in the one place the API, the admin and imports go through."""
    if end <= start:
        raise InvalidInput.on("end", "Must be after start.")
    if substitute is not None and substitute.pk == staff.pk:
        raise InvalidInput.on("substitute", "Must be someone else.")
    clash = leave_overlaps(staff=staff, start=start, end=end, exclude=exclude)
    if clash is not None:
        raise InvalidInput.on("start", f"Overlaps leave {clash.pk} "
                                       f"({clash.start:%Y-%m-%d} to {clash.end:%Y-%m-%d}).")


def leave_mark_started(*, leave: Leave, at: datetime) -> None:
    """The leave's start was handled (its person's work handed back): never handled twice."""
    Leave.objects.filter(pk=leave.pk).update(started_handled_at=at)
    leave.started_handled_at = at


# --- task types --------------------------------------------------------------------------------
def required_skills_set(*, task_type: TaskType, skills: Iterable[tuple[Skill, int]]) -> None:
    """Replace the skills a task type needs ((skill, minimum level) pairs)."""
    with transaction.atomic():
        RequiredSkill.objects.filter(task_type=task_type).delete()
        RequiredSkill.objects.bulk_create(
            RequiredSkill(task_type=task_type, skill=skill, level=level)
            for skill, level in skills
        )
