"""The navigation: every page a user may see, in one list the base layout renders.

Each rule is the one its view checks: a link shown is a page that opens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse

from apps.accounts.roles import is_admin, is_person
from apps.schedules import policies as schedule_policies

from .policies import may_see_staff, may_see_units


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


ENTRIES: tuple[Entry, ...] = (
    Entry("Dashboard", "dashboard:home", _anyone),
    Entry("Tasks", "dashboard:tasks", _anyone),
    Entry("My tasks", "dashboard:my-tasks", _staff_member),
    Entry("Approvals", "dashboard:approvals", _anyone),
    Entry("Staff", "dashboard:staff", may_see_staff),
    Entry("Units", "dashboard:units", may_see_units),
    # The API's read rule for schedules (ScheduleViewSet.initial), which the page asks too.
    Entry("Schedules", "dashboard:schedules", schedule_policies.may_read),
    # Everyone signed in: the page shows the workflows and dead letters the API shows them.
    Entry("Workflows", "dashboard:workflows", _anyone),
    Entry("Dead letters", "dashboard:dead-letters", _anyone),
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
