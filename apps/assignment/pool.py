"""The candidate pool: who could take a task of a given type right now.

Strategies see `Candidate`s, never `Staff` rows, so the same strategies can rank execution
units once they exist: a unit pool only has to produce the same small records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from apps.staff.models import Availability, Leave, RequiredSkill, Staff, StaffSkill
from apps.tasks.models import TaskType

# How far a starving task's pool is widened (see relax_level).
STRICT, RELAXED, ANY_HOLDER, OVERFLOW = 0, 1, 2, 3


@dataclass
class Candidate:
    user_id: int
    name: str
    load: int
    capacity: int
    seniority: int = 1
    rating: int = 3
    skills: dict[int, int] = field(default_factory=dict)  # skill id -> level
    last_assigned_at: datetime | None = None
    # Set when this entry stands for someone on leave whose work goes to a substitute.
    delegated_from: tuple[int, str] | None = None

    @property
    def key(self) -> str:
        """Identity for ordering and hashing: who the work was meant for."""
        return f"user:{self.delegated_from[0] if self.delegated_from else self.user_id}"

    @property
    def meant_for(self) -> str:
        """The name of whose turn this is (the person on leave, for a substitute's entry)."""
        return self.delegated_from[1] if self.delegated_from else self.name

    @property
    def order_id(self) -> int:
        return self.delegated_from[0] if self.delegated_from else self.user_id

    def fits(self, weight: int) -> bool:
        return self.load + weight <= self.capacity


@dataclass(frozen=True)
class Requirement:
    skill_id: int
    skill_name: str
    level: int


def requirements(task_type: TaskType) -> list[Requirement]:
    rows = RequiredSkill.objects.filter(task_type=task_type).select_related("skill")
    return sorted(
        (Requirement(r.skill_id, r.skill.name, r.level) for r in rows), key=lambda r: r.skill_id
    )


def relax_level(task_type: TaskType, queued_at: datetime | None, now: datetime) -> int:
    """Starvation guard: each skill_timeout a task waits widens its pool one step."""
    if not task_type.skill_timeout or queued_at is None:
        return STRICT
    waited = (now - queued_at).total_seconds()
    return min(int(waited // task_type.skill_timeout), OVERFLOW)


def _relaxed(reqs: list[Requirement], relax: int) -> list[Requirement]:
    if relax <= STRICT:
        return reqs
    floor = 1 if relax >= ANY_HOLDER else None
    return [Requirement(r.skill_id, r.skill_name, floor or max(r.level - 1, 1)) for r in reqs]


def _qualified(reqs: list[Requirement]):
    qs = Staff.objects.all()
    for req in reqs:
        qs = qs.filter(Exists(StaffSkill.objects.filter(
            staff=OuterRef("pk"), skill_id=req.skill_id, level__gte=req.level)))
    return qs


def _on_leave(now: datetime):
    return Exists(Leave.objects.filter(staff=OuterRef("pk"), start__lte=now, end__gt=now))


CANDIDATE_FIELDS = ("pk", "user_id", "user__username", "load", "capacity", "seniority",
                    "rating", "last_assigned_at")


def _candidates_by_staff(staff_qs, reqs: list[Requirement]) -> dict[int, Candidate]:
    """Candidates keyed by staff id, from plain rows (no model instances: a pool is hundreds
    of people, built for every task type in every batch)."""
    rows = list(staff_qs.values_list(*CANDIDATE_FIELDS))
    levels: dict[int, dict[int, int]] = {}
    skill_ids = [r.skill_id for r in reqs]
    if rows and skill_ids:
        for staff_id, skill_id, level in StaffSkill.objects.filter(
            staff__in=[row[0] for row in rows], skill_id__in=skill_ids
        ).values_list("staff_id", "skill_id", "level"):
            levels.setdefault(staff_id, {})[skill_id] = level
    return {
        pk: Candidate(user_id=user_id, name=name, load=load, capacity=capacity,
                      seniority=seniority, rating=rating, skills=levels.get(pk, {}),
                      last_assigned_at=last)
        for pk, user_id, name, load, capacity, seniority, rating, last in rows
    }


def staff_pool(
    task_type: TaskType, *, relax: int = STRICT, now: datetime | None = None,
    reqs: list[Requirement] | None = None,
) -> list[Candidate]:
    """Active staff, not on leave, with every required skill at the (relaxed) level and room
    for one task of this type; plus substitutes standing in for qualified people on leave."""
    now = now or timezone.now()
    reqs = requirements(task_type) if reqs is None else reqs
    if relax >= OVERFLOW:
        return _overflow_pool(task_type)
    needed = _relaxed(reqs, relax)
    weight = task_type.capacity_weight
    qualified = _qualified(needed)
    present = (
        qualified.filter(availability=Availability.ACTIVE, load__lte=F("capacity") - weight)
        .exclude(_on_leave(now)).order_by("user_id")
    )
    candidates = list(_candidates_by_staff(present, reqs).values())
    candidates += _delegates(qualified, needed, reqs, weight, now)
    return candidates


def _delegates(qualified, needed, reqs, weight: int, now: datetime) -> list[Candidate]:
    """Qualified people on leave who named a substitute: their turn goes to the substitute,
    provided the substitute qualifies too, is present and has room."""
    leaves = (
        Leave.objects.filter(start__lte=now, end__gt=now, substitute__isnull=False,
                             staff__in=qualified)
        .select_related("staff__user").order_by("staff__user_id")
    )
    leaves = list(leaves)
    if not leaves:
        return []
    subs = _candidates_by_staff(_qualified(needed).filter(
        pk__in=[lv.substitute_id for lv in leaves], availability=Availability.ACTIVE,
        load__lte=F("capacity") - weight,
    ).exclude(_on_leave(now)), reqs)
    out = []
    for leave in leaves:
        base = subs.get(leave.substitute_id)
        if base is None:
            continue
        out.append(Candidate(**{**base.__dict__, "delegated_from": (
            leave.staff.user_id, leave.staff.user.username)}))
    return out


def _overflow_pool(task_type: TaskType) -> list[Candidate]:
    user_id = task_type.overflow_assignee_id
    if user_id is None:
        return []
    staff = Staff.objects.filter(user_id=user_id).first()
    if staff is None:
        # An operator who is not staff: nobody keeps their load, so nothing limits it.
        user = task_type.overflow_assignee
        return [Candidate(user_id=user.pk, name=user.get_username(), load=0, capacity=10**6)]
    if not staff.load + task_type.capacity_weight <= staff.capacity:
        return []
    return list(_candidates_by_staff(Staff.objects.filter(pk=staff.pk),
                                     requirements(task_type)).values())
