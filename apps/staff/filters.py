"""Directory filters, shared by the API and the pages."""

from __future__ import annotations

import django_filters

from apps.core.filters import IdFilter, IntegerFilter

from .models import Availability, Staff, Team


class StaffFilter(django_filters.FilterSet):
    team = IdFilter(field_name="team_id")
    availability = django_filters.ChoiceFilter(choices=Availability.choices)
    skill = django_filters.CharFilter(field_name="staff_skills__skill__name",
                                      help_text="Has this skill (by name)")
    min_level = IntegerFilter(method="filter_min_level", min_value=1, max_value=5,
                                            help_text="With `skill`: at least this level")

    class Meta:
        model = Staff
        fields = ["team", "availability", "skill"]

    def filter_min_level(self, queryset, name, value):
        skill = self.form.cleaned_data.get("skill")
        if not skill:
            return queryset
        # One join on the same row as the skill name, so both apply to the same skill.
        return queryset.filter(staff_skills__skill__name=skill, staff_skills__level__gte=value)


class TeamFilter(django_filters.FilterSet):
    # By id, not a choice among existing rows: an id nobody has is an empty page, as on every
    # other list, not a 400 (a schema-valid id cannot know which rows exist).
    manager = IdFilter(field_name="manager_id")
    parent = IdFilter(field_name="parent_id")

    class Meta:
        model = Team
        fields = ["manager", "parent"]
