"""Who may change what about staff: admins everything, managers their teams, staff their leave."""

from __future__ import annotations

from apps.accounts.roles import is_admin, managed_team_ids

from .models import Staff


def may_edit_catalogue(user) -> bool:
    """Skills and teams shape everyone's routing: only operators define them."""
    return is_admin(user)


def may_add_or_remove_people(user) -> bool:
    """Creating a person creates a sign-in account: an operator's job, not a manager's."""
    return is_admin(user)


def may_manage(user, staff: Staff) -> bool:
    return is_admin(user) or (staff.team_id is not None
                              and staff.team_id in managed_team_ids(user))


def may_move_to(user, team_id: int | None) -> bool:
    """Managers keep people within their own teams; only admins move them elsewhere."""
    return is_admin(user) or (team_id is not None and team_id in managed_team_ids(user))


def may_handle_leave(user, staff: Staff) -> bool:
    """A person's leave is theirs to request, and their manager's to manage."""
    return staff.user_id == user.pk or may_manage(user, staff)
