"""The pools of a whole batch, built at once, are the pools the rules define, type by type."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.assignment.pool import (
    ANY_HOLDER,
    RELAXED,
    STRICT,
    requirements_of,
    staff_pool,
    staff_pools,
)
from apps.staff.models import Availability, Leave, Staff, StaffSkill
from tests.builders import make_leave, make_staff, make_task_type, require

pytestmark = pytest.mark.django_db
SKILLS = ["python", "sql", "go"]


def by_the_rules(task_type, relax, now) -> list[tuple]:
    """Who the pool should hold, read off the rows one by one (docs/product.md)."""
    reqs = list(task_type.required_skills.select_related("skill"))

    def level_needed(r):
        return r.level if relax == STRICT else (max(r.level - 1, 1) if relax == RELAXED else 1)

    def qualified(staff):
        mine = {s.skill_id: s.level for s in StaffSkill.objects.filter(staff=staff)}
        return all(mine.get(r.skill_id, 0) >= level_needed(r) for r in reqs)

    def present_with_room(staff):
        on_leave = Leave.objects.filter(staff=staff, start__lte=now, end__gt=now).exists()
        return (staff.availability == Availability.ACTIVE and not on_leave
                and staff.load + task_type.capacity_weight <= staff.capacity)

    everyone = Staff.objects.select_related("user").order_by("user_id")
    out = [(s.user_id, None) for s in everyone if present_with_room(s) and qualified(s)]
    for leave in Leave.objects.filter(start__lte=now, end__gt=now, substitute__isnull=False) \
            .select_related("staff", "substitute").order_by("staff__user_id", "pk"):
        sub = leave.substitute
        if qualified(leave.staff) and qualified(sub) and present_with_room(sub):
            out.append((sub.user_id, leave.staff.user_id))
    return out


def test_a_batchs_pools_built_at_once_are_each_types_pool_by_the_rules():
    rng = random.Random(3)
    types = []
    for i in range(4):
        t = make_task_type(f"type-{i}", capacity_weight=rng.randint(1, 3))
        types.append(require(t, {s: rng.randint(1, 4) for s in rng.sample(SKILLS, 1 + i % 2)}))
    people = []
    for i in range(25):
        person = make_staff(f"p{i}", capacity=rng.randint(0, 4),
                            skills={s: rng.randint(1, 5) for s in rng.sample(SKILLS, 2)})
        Staff.objects.filter(pk=person.pk).update(
            load=rng.randint(0, 3),
            availability=rng.choice([Availability.ACTIVE] * 4 + [Availability.INACTIVE]))
        people.append(person)
    for person in rng.sample(people, 8):
        others = [p for p in people if p != person]
        make_leave(person, days_from_now=rng.choice([-1, -1, 1]),
                   substitute=rng.choice([None, *rng.sample(others, 4)]))
    now = timezone.now() + timedelta(seconds=1)
    wanted = [(t, relax) for t in types for relax in (STRICT, RELAXED, ANY_HOLDER)]

    pools = staff_pools(wanted, now=now, reqs=requirements_of(types))

    for t, relax in wanted:
        got = [(c.user_id, c.delegated_from[0] if c.delegated_from else None)
               for c in pools[(t.pk, relax)]]
        assert got == by_the_rules(t, relax, now), (t.key, relax)
        alone = staff_pool(t, relax=relax, now=now)
        assert [c.__dict__ for c in alone] == [c.__dict__ for c in pools[(t.pk, relax)]]
    assert any(pools.values()) and any(c.delegated_from for p in pools.values() for c in p)
