"""The dashboard's hooks, registered in AppConfig.ready."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_out

from .consumers import close_sockets_of_session


def register() -> None:
    # Signing out ends that session's live sockets (apps.dashboard.consumers).
    user_logged_out.connect(_close_live_sockets, dispatch_uid="dashboard.live_sign_out")


def _close_live_sockets(sender, request, user, **kwargs) -> None:
    # Sent before the session is flushed: its key still names the sockets to close.
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        close_sockets_of_session(session_key=session.session_key)
