"""The people pages' filters: the API's own filter sets, plus what only a page asks."""

from __future__ import annotations

import django_filters
from django import forms

from apps.core.filters import StrictBooleanFilter
from apps.execution.models import ExecutionUnit, UnitStatus
from apps.staff.filters import StaffFilter
from apps.staff.models import Team
from apps.staff.selectors import on_leave_now

# The windows the rates are figured over, in hours (the stats API takes any 1 to 720).
WINDOWS = [(24, "Last 24 hours"), (168, "Last 7 days"), (720, "Last 30 days")]
DEFAULT_WINDOW = 24
ANY_YES_NO = [("", "Any"), ("true", "Yes"), ("false", "No")]


class StaffPageFilter(StaffFilter):
    """The staff directory's filters (team, availability, skill and its level), plus whether
    a leave covers this moment, and the window of the rates (which filters nobody out)."""

    on_leave = StrictBooleanFilter(method="filter_on_leave", label="On leave now",
                                   widget=forms.Select(choices=ANY_YES_NO))
    hours = django_filters.TypedChoiceFilter(
        choices=WINDOWS, coerce=int, method="keep_everyone", label="Rates over",
        empty_value=DEFAULT_WINDOW)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fields = self.form.fields
        # The teams of the people this user may see, by name: one query, whatever the rows.
        teams = Team.objects.filter(pk__in=self.queryset.values("team_id")).order_by("name")
        fields["team"].widget = forms.Select(
            choices=[("", "Any"), *teams.values_list("pk", "name")])
        fields["availability"].label = "Availability"
        fields["skill"].label = "Skill (name)"
        fields["min_level"].label = "At least level"
        fields["min_level"].widget.attrs.update(min=1, max=5)

    def filter_on_leave(self, queryset, name, value):
        return queryset.annotate(away_now=on_leave_now()).filter(away_now=value)

    def keep_everyone(self, queryset, name, value):
        return queryset

    @property
    def window_hours(self) -> int:
        return self.form.cleaned_data.get("hours") or DEFAULT_WINDOW


class UnitPageFilter(django_filters.FilterSet):
    """The units API's filters (`unit_type`, `status`)."""

    unit_type = django_filters.CharFilter(label="Unit type")
    status = django_filters.ChoiceFilter(choices=UnitStatus.choices, empty_label="Any")

    class Meta:
        model = ExecutionUnit
        fields = ["unit_type", "status"]
