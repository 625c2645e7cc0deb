"""The candidate pool: who could take a task of a given type right now.

Strategies see `Candidate`s, never `Staff` rows, so the same strategies can rank execution
units once they exist: a unit pool only has to produce the same small records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from apps.staff.models import Availability, Leave, RequiredSkill, Staff, StaffSkill
from apps.tasks.models import TaskType

from .selectors import policy_of

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
    return requirements_of([task_type])[task_type.pk]


def requirements_of(task_types: Iterable[TaskType]) -> dict[int, list[Requirement]]:
    """Each type's required skills (by type id), in one query for the lot."""
    out: dict[int, list[Requirement]] = {t.pk: [] for t in task_types}
    for type_id, skill_id, name, level in RequiredSkill.objects.filter(
        task_type_id__in=list(out)
    ).order_by("skill_id").values_list("task_type_id", "skill_id", "skill__name", "level"):
        out[type_id].append(Requirement(skill_id, name, level))
    return out


def relax_level(task_type: TaskType, queued_at: datetime | None, now: datetime) -> int:
    """Starvation guard: each skill_timeout a task waits widens its pool one step."""
    skill_timeout = policy_of(task_type=task_type).skill_timeout
    if not skill_timeout or queued_at is None:
        return STRICT
    waited = (now - queued_at).total_seconds()
    return min(int(waited // skill_timeout), OVERFLOW)


def _relaxed(reqs: list[Requirement], relax: int) -> list[Requirement]:
    if relax <= STRICT:
        return reqs
    floor = 1 if relax >= ANY_HOLDER else None
    return [Requirement(r.skill_id, r.skill_name, floor or max(r.level - 1, 1)) for r in reqs]


def _on_leave(now: datetime):
    return Exists(Leave.objects.filter(staff=OuterRef("pk"), start__lte=now, end__gt=now))


CANDIDATE_FIELDS = ("pk", "user_id", "user__username", "load", "capacity", "seniority",
                    "rating", "last_assigned_at")


def staff_pool(
    task_type: TaskType, *, relax: int = STRICT, now: datetime | None = None,
    reqs: list[Requirement] | None = None,
) -> list[Candidate]:
    """Active staff, not on leave, with every required skill at the (relaxed) level and room
    for one task of this type; plus substitutes standing in for qualified people on leave."""
    reqs = requirements(task_type) if reqs is None else reqs
    return staff_pools([(task_type, relax)], now=now,
                       reqs={task_type.pk: reqs})[(task_type.pk, relax)]


def staff_pools(
    wanted: Sequence[tuple[TaskType, int]], *, now: datetime | None = None,
    reqs: Mapping[int, list[Requirement]],
) -> dict[tuple[int, int], list[Candidate]]:
    """`staff_pool` for several (task type, widening step) at once, keyed by (type id, step):
    three queries for a whole batch (who is present, their levels in the skills any of these
    types needs, who is on leave with a substitute), then each pool sorted out in memory.

    Each pool gets its own Candidate records, holding the levels of its type's skills.
    """
    now = now or timezone.now()
    pools: dict[tuple[int, int], list[Candidate]] = {}
    wanted = [(t, relax) for t, relax in dict.fromkeys((t, r) for t, r in wanted)]
    for task_type, relax in wanted:
        if relax >= OVERFLOW:
            pools[(task_type.pk, relax)] = _overflow_pool(task_type)
    wanted = [(t, relax) for t, relax in wanted if relax < OVERFLOW]
    if not wanted:
        return pools
    lightest = min(t.capacity_weight for t, _ in wanted)
    present = list(
        Staff.objects.filter(availability=Availability.ACTIVE,
                             load__lte=F("capacity") - lightest)
        .exclude(_on_leave(now)).order_by("user_id").values_list(*CANDIDATE_FIELDS))
    leaves = list(
        Leave.objects.filter(start__lte=now, end__gt=now, substitute__isnull=False)
        .order_by("staff__user_id", "pk")
        .values_list("staff_id", "staff__user_id", "staff__user__username", "substitute_id"))
    skill_ids = {r.skill_id for t, _ in wanted for r in reqs[t.pk]}
    levels: dict[int, dict[int, int]] = {}
    if skill_ids and (present or leaves):
        for staff_id, skill_id, level in StaffSkill.objects.filter(
            staff__in=[row[0] for row in present] + [lv[0] for lv in leaves],
            skill_id__in=skill_ids,
        ).values_list("staff_id", "skill_id", "level"):
            levels.setdefault(staff_id, {})[skill_id] = level
    by_staff = {row[0]: row for row in present}
    for task_type, relax in wanted:
        type_reqs = reqs[task_type.pk]
        needed = _relaxed(type_reqs, relax)
        weight = task_type.capacity_weight

        def qualified(staff_id: int, needed=needed) -> bool:
            mine = levels.get(staff_id, {})
            return all(mine.get(r.skill_id, 0) >= r.level for r in needed)

        def candidate(row, type_reqs=type_reqs, **extra) -> Candidate:
            pk, user_id, name, load, capacity, seniority, rating, last = row
            mine = levels.get(pk, {})
            return Candidate(user_id=user_id, name=name, load=load, capacity=capacity,
                             seniority=seniority, rating=rating, last_assigned_at=last,
                             skills={r.skill_id: mine[r.skill_id] for r in type_reqs
                                     if r.skill_id in mine}, **extra)

        # Present: room for one task of this type; every needed skill at its level.
        pool = [candidate(row) for row in present
                if row[3] + weight <= row[4] and qualified(row[0])]
        # Someone qualified on leave who named a substitute: their turn goes to the
        # substitute, provided the substitute qualifies too, is present and has room.
        for staff_id, user_id, username, substitute_id in leaves:
            sub = by_staff.get(substitute_id)
            if (sub is not None and qualified(staff_id) and sub[3] + weight <= sub[4]
                    and qualified(substitute_id)):
                pool.append(candidate(sub, delegated_from=(user_id, username)))
        pools[(task_type.pk, relax)] = pool
    return pools


def _overflow_pool(task_type: TaskType) -> list[Candidate]:
    policy = policy_of(task_type=task_type)
    user_id = policy.overflow_assignee_id
    if user_id is None:
        return []
    staff = Staff.objects.filter(user_id=user_id).select_related("user").first()
    if staff is None:
        # An operator who is not staff: nobody keeps their load, so nothing limits it.
        user = policy.overflow_assignee
        return [Candidate(user_id=user.pk, name=user.get_username(), load=0, capacity=10**6)]
    if not staff.load + task_type.capacity_weight <= staff.capacity:
        return []
    skills = dict(StaffSkill.objects.filter(
        staff=staff, skill_id__in=[r.skill_id for r in requirements(task_type)],
    ).values_list("skill_id", "level"))
    return [Candidate(user_id=user_id, name=staff.user.get_username(), load=staff.load,
                      capacity=staff.capacity, seniority=staff.seniority, rating=staff.rating,
                      skills=skills, last_assigned_at=staff.last_assigned_at)]
