"""Filter types shared by the apps' filter sets (API and pages alike).

django-filter's NumberFilter takes any decimal (`1.5`, `1e30`) and hands it to the database,
where an id column fails on it; these validate in the filter set's form instead, so a bad
value is a 400 naming the filter.
"""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms

MAX_ID = 2**63 - 1  # the largest bigint: no id column holds more


class IntegerFilter(django_filters.NumberFilter):
    """A whole number; bounds go to the form field (`min_value`, `max_value`)."""

    field_class = forms.IntegerField


class IdFilter(IntegerFilter):
    """A row id: a whole number from 1 to the largest id a column can hold."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class _UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    def clean(self, value):
        moment = super().clean(value)
        if moment is None or moment.tzinfo is None:
            return moment
        # Python takes offsets up to ±23:59, PostgreSQL only up to ±15:59 ("time zone
        # displacement out of range", a 500); the same instant in UTC is what the query needs.
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Out of the range of dates.", code="overflow") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 moment, compared in UTC whatever offset it was written with."""

    field_class = _UtcDateTimeField
