"""Admin helpers every app's admin builds on, so the admin changes state only through services.

- `ServiceModelForm`: a form whose rules are a service's check, reported on the fields.
- `ServiceAdminMixin`: saves and deletes go to the app's services; a domain error raised there
  (a race lost after the form was valid) becomes a message, not a 500, and nothing is written.
- `apply_to_each`: "do this to each selected row, then say how many were done and refused",
  the body of every bulk action.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.utils.translation import ngettext

from .exceptions import DomainError, InvalidInput

NON_FIELD = "non_field_errors"


def add_form_errors(form: forms.BaseForm, exc: InvalidInput) -> None:
    """Put a service's refusal on the form's fields (those the form shows) or above them."""
    for name, msgs in (exc.fields or {NON_FIELD: [str(exc)]}).items():
        field = name if name in form.fields else None
        for message in msgs:
            form.add_error(field, message)


class ServiceModelForm(forms.ModelForm):
    """Runs `check(cleaned_data)` (a service's rules) after the fields are valid."""

    def check(self, cleaned_data: dict[str, Any]) -> None:
        """Call the service's check here; it raises InvalidInput."""

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                self.check(cleaned)
            except InvalidInput as exc:
                add_form_errors(self, exc)
        return cleaned


class ReadOnlyAdminMixin:
    """A page to look at, never to write: its rows change through their services alone."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ServiceAdminMixin:
    """Subclasses write `save_model`/`delete_model` (and inlines' `save_formset`) through
    their services; a DomainError there leaves nothing written and says why."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:  # the view's transaction was rolled back
            self.message_user(request, f"Not saved: {exc}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            self.message_user(request, f"Not deleted: {exc}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


def apply_to_each(
    model_admin, request, items: Iterable[Any], func: Callable[[Any], Any], *,
    done: tuple[str, str], refused: tuple[str, str],
    errors: tuple[type[BaseException], ...] = (DomainError,),
) -> tuple[int, int]:
    """Call `func` on each item on its own (its own service call, locks and transaction), so
    one refusal does not undo the others; then report, pluralised: `done` and `refused` are
    (singular, plural) messages with `%(n)d`. Returns (done, refused)."""
    ok = no = 0
    for item in items:
        try:
            func(item)
            ok += 1
        except errors:
            no += 1
    model_admin.message_user(request, ngettext(*done, ok) % {"n": ok})
    if no:
        model_admin.message_user(request, ngettext(*refused, no) % {"n": no}, messages.WARNING)
    return ok, no
