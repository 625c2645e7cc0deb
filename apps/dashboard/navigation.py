"""The navigation: every page a user may see, in one list the base layout renders.

Pages still to come (schedules, workflows, dead letters) get an entry here with their own
`shown` rule when they are built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse

from apps.accounts.roles import (
    in_managers_group,
    is_admin,
    is_person,
    managed_team_ids,
    sees_all_tasks,
)


@dataclass(frozen=True)
class Entry:
    label: str
    url_name: str
    shown: Callable[[object], bool]


def _anyone(user) -> bool:
    return is_person(user)


def _staff_member(user) -> bool:
    # A reverse one-to-one: one query, cached on the user for the rest of the request.
    return is_person(user) and hasattr(user, "staff")


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


ENTRIES: tuple[Entry, ...] = (
    Entry("Dashboard", "dashboard:home", _anyone),
    Entry("Tasks", "dashboard:tasks", _anyone),
    Entry("My tasks", "dashboard:my-tasks", _staff_member),
    Entry("Approvals", "dashboard:approvals", _anyone),
    Entry("Staff", "dashboard:staff", may_see_staff),
    Entry("Units", "dashboard:units", may_see_units),
)


def navigation(user, *, current: str = "") -> list[dict]:
    """The entries `user` may follow, the current page marked for `aria-current`."""
    items = [
        {"label": e.label, "url": reverse(e.url_name), "current": e.url_name == current}
        for e in ENTRIES if e.shown(user)
    ]
    if is_admin(user):
        items.append({"label": "Admin", "url": reverse("admin:index"), "current": False})
    return items
