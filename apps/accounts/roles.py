"""Roles, until apps/staff brings teams: admins (operators), managers, everyone else.

- admin: a superuser or an operator with admin access (`is_staff`).
- manager: a member of the `managers` group.
"""

from __future__ import annotations

MANAGERS_GROUP = "managers"


def is_admin(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or user.is_staff))


def is_manager(user) -> bool:
    if not (user and user.is_authenticated):
        return False
    # Cached on the user object: a request asks several times, the database answers once.
    cached = getattr(user, "_tm_is_manager", None)
    if cached is None:
        cached = user.groups.filter(name=MANAGERS_GROUP).exists()
        user._tm_is_manager = cached
    return cached


def sees_all_tasks(user) -> bool:
    return is_admin(user) or is_manager(user)
