"""Who may do what with schedules: admins and managers define and run them, staff read."""

from __future__ import annotations

from apps.accounts.roles import is_admin, is_manager, is_person


def may_read(user) -> bool:
    return is_person(user)


def may_manage(user) -> bool:
    return is_person(user) and (is_admin(user) or is_manager(user))
