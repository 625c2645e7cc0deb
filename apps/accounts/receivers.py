"""API tokens end with the credentials that issued them.

A password change, a password disabled, or a deactivation revokes every API token of the user
(token_revoke_all). Revoked rather than merely refused: the revocation is recorded (the admin
shows when access ended) and a later reactivation does not bring old tokens back.

Hooked on the user model's save, the one point every django.contrib.auth path goes through:
the admin's password and change forms, set_password() + save(), `manage.py changepassword`.
A password hash upgraded on login is not a change (Django saves it with
update_fields=["password"] after clearing the raw password, as below). A QuerySet.update()
sends no model signal: code that changes passwords or deactivates in bulk must call
token_revoke_all itself.
"""

from __future__ import annotations

from .services import token_revoke_all


def note_ended_credentials(sender, instance, raw=False, update_fields=None, **kwargs):
    instance._tm_revoke_tokens = not raw and not instance._state.adding and (
        not instance.is_active
        # set_password() keeps the raw password until save(): Django's own mark of a change.
        or getattr(instance, "_password", None) is not None
        # A full save with another hash: set_unusable_password(), a hash written directly.
        or (update_fields is None and _stored_password(sender, instance) != instance.password)
    )


def revoke_tokens_of_ended_credentials(sender, instance, **kwargs):
    if getattr(instance, "_tm_revoke_tokens", False):
        instance._tm_revoke_tokens = False
        token_revoke_all(user=instance)


def _stored_password(model, instance) -> str | None:
    return model._default_manager.filter(pk=instance.pk).values_list("password", flat=True).first()
