"""Forms of the schedules and dead-letters pages: every value read and bounded before a service
runs, so a bad one is a message or a 400, never a 500 or half a change."""

from __future__ import annotations

import uuid

from django import forms

from apps.tasks.models import TaskType

from .ops_selectors import DEAD_LETTERS_LIMIT

SCHEDULE_ACTIONS = ("enable", "disable", "trigger")


class ScheduleActionForm(forms.Form):
    action = forms.ChoiceField(choices=[(a, a) for a in SCHEDULE_ACTIONS])


class DeadLetterFilterForm(forms.Form):
    """The filters of apps.tasks.selectors.dead_letters (and of `manage.py replay_dead`)."""

    task_type = forms.ModelChoiceField(
        queryset=TaskType.objects.order_by("key"), to_field_name="key", required=False,
        empty_label="any", label="Task type")
    since = forms.DateTimeField(
        required=False, label="Failed since (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["task_type"].label_from_instance = lambda t: t.key


class ReplayForm(forms.Form):
    """One row's Replay (`task`), or "Replay all shown" (`all`, with the rows' ids in `shown`)."""

    task = forms.UUIDField(required=False)
    all = forms.BooleanField(required=False)

    def __init__(self, data, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.shown_raw = data.getlist("shown") if hasattr(data, "getlist") else []

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("all"):
            if not self.shown_raw:
                raise forms.ValidationError("No dead letters were shown to replay.")
            if len(self.shown_raw) > DEAD_LETTERS_LIMIT:
                raise forms.ValidationError(
                    f"At most {DEAD_LETTERS_LIMIT} dead letters are replayed at once.")
            try:
                ids = [uuid.UUID(raw) for raw in self.shown_raw]
            except (ValueError, AttributeError, TypeError):
                raise forms.ValidationError("A task id could not be read.") from None
        elif cleaned.get("task"):
            ids = [cleaned["task"]]
        else:
            raise forms.ValidationError("Choose a dead letter to replay.")
        cleaned["ids"] = list(dict.fromkeys(ids))
        return cleaned
