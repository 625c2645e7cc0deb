"""The accounts app's hooks, registered in AppConfig.ready: API tokens end with the
credentials that issued them (apps.accounts.receivers)."""

from __future__ import annotations

from django.conf import settings
from django.core.signals import setting_changed
from django.db.models.signals import post_save, pre_save

from . import ratelimit, receivers


def register() -> None:
    # dispatch_uid: ready() may run more than once (tests), a receiver must not double up.
    pre_save.connect(receivers.note_ended_credentials, sender=settings.AUTH_USER_MODEL,
                     dispatch_uid="accounts.note_ended_credentials")
    post_save.connect(receivers.revoke_tokens_of_ended_credentials,
                      sender=settings.AUTH_USER_MODEL,
                      dispatch_uid="accounts.revoke_tokens_of_ended_credentials")
    setting_changed.connect(ratelimit.reset_on_setting_change,
                            dispatch_uid="accounts.reset_on_setting_change")
