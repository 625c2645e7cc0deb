"""Who may open the pages that have a rule of their own: the API's rule for the same data,
read from what is cached on the user for the request, so the navigation asks it of every
page for no query of its own."""

from __future__ import annotations

from apps.accounts.roles import (
    in_managers_group,
    is_admin,
    is_person,
    managed_team_ids,
    sees_all_tasks,
)


def may_see_staff(user) -> bool:
    """Whether apps.stats.policies.visible_staff names anyone for `user` (the staff page's
    and the stats API's rule), from what is cached on the user for the request, so showing
    the entry costs no query of its own: admins, the managers group, team managers, staff."""
    return is_person(user) and (is_admin(user) or in_managers_group(user)
                                or bool(managed_team_ids(user)) or hasattr(user, "staff"))


def may_see_units(user) -> bool:
    """The units API's list rule (ExecutionUnitViewSet.list): whoever may list every task."""
    return is_person(user) and sees_all_tasks(user)


def may_change_units(user) -> bool:
    """Drain and undrain: a person only as an admin (the API's _own_or_admin; the unit
    itself uses its token, never a page)."""
    return is_person(user) and is_admin(user)
