"""Filter types shared by the apps' filter sets (API and pages alike).

django-filter's NumberFilter takes any decimal (`1.5`, `1e30`) and hands it to the database,
where an id column fails on it; these validate in the filter set's form instead, so a bad
value is a 400 naming the filter.
"""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.db import models
from django_filters.rest_framework import DjangoFilterBackend

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


class _PresentUUIDField(forms.UUIDField):
    def to_python(self, value):
        # Forms read "" as "not given"; in a query string `?parent=` was given, and is not a
        # UUID: a 400 naming the filter, not every row.
        if value == "":
            raise forms.ValidationError("Enter a valid UUID.", code="invalid")
        return super().to_python(value)


class UUIDFilter(django_filters.UUIDFilter):
    """A UUID; present but empty is an error, not a filter left out."""

    field_class = _PresentUUIDField


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


class _StrictBooleanField(forms.Field):
    """true/false (or 1/0); anything else is an error, where django-filter's own boolean
    reads an unknown word as "no filter" and answers everything (`is_active=-1`)."""

    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value):
        if value in (None, ""):
            return None
        try:
            return self.VALUES[str(value).lower()]
        except KeyError:
            raise forms.ValidationError("Must be true or false.", code="invalid") from None


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = _StrictBooleanField


class FilterSet(django_filters.FilterSet):
    """The base of every filter set, declared or made from `filterset_fields`."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": StrictBooleanFilter},
    }


class FilterBackend(DjangoFilterBackend):
    """DRF's django-filter backend, building `filterset_fields` sets on our base."""

    filterset_base = FilterSet
