"""The pages' forms: the same limits as the API's serializers, checked before a service runs."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from apps.accounts.forms import RateLimitedLoginMixin
from apps.staff.models import Staff
from apps.tasks.policies import API_ACTIONS
from apps.tasks.states import LogLevel

DECISIONS = ("approve", "reject", "withdraw")


class SignInForm(RateLimitedLoginMixin, AuthenticationForm):
    """Any active account, counted by the same login limiter as the API and the admin."""


class TaskActionForm(forms.Form):
    action = forms.ChoiceField(choices=[(a, a) for a in API_ACTIONS])
    reason = forms.CharField(max_length=2000, required=False,
                             label="Reason (for fail: the error)")


class ProgressForm(forms.Form):
    progress = forms.IntegerField(min_value=0, max_value=100, label="Progress (%)")


class LogLineForm(forms.Form):
    level = forms.ChoiceField(choices=LogLevel.choices, initial=LogLevel.INFO)
    message = forms.CharField(max_length=10000, label="Log line")


class LeaveForm(forms.Form):
    start = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    reason = forms.CharField(max_length=200, required=False)
    substitute = forms.ModelChoiceField(
        queryset=Staff.objects.select_related("user").order_by("user__username"),
        required=False, help_text="Who takes your work meanwhile (optional).",
    )

    def __init__(self, *args, staff: Staff | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if staff is not None:
            self.fields["substitute"].queryset = (
                self.fields["substitute"].queryset.exclude(pk=staff.pk))
        self.fields["substitute"].label_from_instance = lambda s: s.user.get_username()


class UnitStatusForm(forms.Form):
    # The API's limit (UnitStatusChangeSerializer).
    reason = forms.CharField(max_length=300, required=False, label="Reason (optional)")


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[(d, d) for d in DECISIONS])
    comment = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(
        attrs={"rows": 2}))

    def clean(self):
        cleaned = super().clean()
        # The API's rule (RejectionSerializer): a rejection says why.
        if cleaned.get("decision") == "reject" and not cleaned.get("comment", "").strip():
            self.add_error("comment", "Say why you reject it: the requester reads it.")
        return cleaned
