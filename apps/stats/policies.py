"""Who may see which figures.

- System figures (overview, queues, units): whoever may list every task (admins, team
  managers, the `managers` group: apps.accounts.roles.sees_all_tasks). They are aggregates of
  what those people can already read task by task; anyone else gets a 403.
- People figures (load, rates per person): personnel data. Admins and the `managers` group
  see everyone; a team manager the members of the teams they manage (and themselves, if they
  are staff); a member of staff only themselves; anyone else (no staff record, no team) a 403.
Execution units never reach these views: their token is refused on every view that does not
list the action for machines (apps.execution.authentication).
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.accounts.roles import (
    in_managers_group,
    is_admin,
    is_person,
    managed_team_ids,
    sees_all_tasks,
)
from apps.staff.models import Staff


def may_see_system(user) -> bool:
    return is_person(user) and sees_all_tasks(user)


def visible_staff(user) -> QuerySet[Staff] | None:
    """The staff whose figures `user` may see, or None when they may see nobody's."""
    if not is_person(user):
        return None
    if is_admin(user) or in_managers_group(user):
        return Staff.objects.all()
    teams = managed_team_ids(user)
    is_staff_member = Staff.objects.filter(user=user).exists()
    if not teams and not is_staff_member:
        return None
    return Staff.objects.filter(Q(team_id__in=teams) | Q(user=user))
