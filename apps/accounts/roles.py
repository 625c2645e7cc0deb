"""Roles: admins (operators), team managers, and everyone else.

- admin: a superuser or an operator with admin access (`is_staff`).
- manager: the manager of at least one team (apps.staff.Team.manager), or a member of the
  `managers` group (kept for operators who manage without a team).
"""

from __future__ import annotations

MANAGERS_GROUP = "managers"


def is_admin(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or user.is_staff))


def is_person(user) -> bool:
    """A signed-in person (not anonymous, not a machine such as an execution unit)."""
    return bool(user and user.is_authenticated and not getattr(user, "is_machine", False))


def managed_team_ids(user) -> frozenset[int]:
    """Teams this user manages; cached on the user object for the request."""
    if not is_person(user):
        return frozenset()
    cached = getattr(user, "_tm_managed_teams", None)
    if cached is None:
        cached = frozenset(user.managed_teams.values_list("pk", flat=True))
        user._tm_managed_teams = cached
    return cached


def in_managers_group(user) -> bool:
    """Member of the `managers` group; cached on the user object for the request."""
    if not is_person(user):
        return False
    cached = getattr(user, "_tm_managers_group", None)
    if cached is None:
        cached = user.groups.filter(name=MANAGERS_GROUP).exists()
        user._tm_managers_group = cached
    return cached


def is_manager(user) -> bool:
    return bool(managed_team_ids(user)) or in_managers_group(user)


def sees_all_tasks(user) -> bool:
    return is_admin(user) or is_manager(user)
