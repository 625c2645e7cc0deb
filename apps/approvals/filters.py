"""One filter set for approval requests, shared by the API and the pages."""

from __future__ import annotations

import django_filters

from .models import ApprovalKind, ApprovalRequest, ApprovalStatus
from .selectors import overdue_q


class ApprovalFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ApprovalStatus.choices)
    kind = django_filters.ChoiceFilter(choices=ApprovalKind.choices)
    overdue = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")], method="filter_overdue",
        help_text="true: pending past their deadline; false: the rest",
    )
    task = django_filters.UUIDFilter(field_name="task_id")

    class Meta:
        model = ApprovalRequest
        fields = ["status", "kind", "overdue", "task"]

    def filter_overdue(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(overdue_q()) if value == "true" else queryset.exclude(overdue_q())
