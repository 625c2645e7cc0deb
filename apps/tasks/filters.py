"""One filter set for tasks, shared by the API and the pages."""

from __future__ import annotations

import uuid

import django_filters
from django.db.models import Q
from drf_spectacular.utils import extend_schema_field

from apps.core.filters import IdFilter, IntegerFilter, UtcDateTimeFilter, UUIDFilter

from .models import Task, TaskLog
from .states import PRIORITY_NAMES, Priority, TaskStatus


class CharInFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    pass


# Priorities are stored as numbers but named in the API: without this the schema took the
# type from the model column and documented an integer whose values are names.
@extend_schema_field({"type": "string", "enum": list(PRIORITY_NAMES)})
class PriorityNameFilter(django_filters.ChoiceFilter):
    pass


class TaskFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=TaskStatus.choices, method="filter_status",
        help_text="One status, or several comma-separated",
    )
    task_type = django_filters.CharFilter(field_name="task_type__key")
    priority = PriorityNameFilter(
        choices=[(p, p) for p in PRIORITY_NAMES], method="filter_priority"
    )
    reference = django_filters.CharFilter()
    assignee = IdFilter(field_name="assignee_user_id", help_text="The holder's user id")
    parent = UUIDFilter(field_name="parent_id",
                                       help_text="The parent's id: a sharded task's shards")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    search = django_filters.CharFilter(
        method="filter_search", help_text="A task id, a reference, or words in the title",
    )

    class Meta:
        model = Task
        fields = ["status", "task_type", "priority", "reference", "assignee", "parent"]

    def __init__(self, data=None, *args, **kwargs):
        # Accept ?status=queued,running as well as ?status=queued&status=running.
        if data is not None and "status" in data:
            data = data.copy()
            values = [v for raw in data.getlist("status") for v in raw.split(",") if v]
            data.setlist("status", values)
        super().__init__(data, *args, **kwargs)

    def filter_status(self, queryset, name, value):
        return queryset.filter(status__in=value) if value else queryset

    def filter_priority(self, queryset, name, value):
        return queryset.filter(priority=Priority.from_name(value))

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        try:
            # An id is matched exactly: pasting one finds that task with one index read.
            return queryset.filter(pk=uuid.UUID(value))
        except ValueError:
            return queryset.filter(Q(reference=value) | Q(title__icontains=value))


class TaskLogFilter(django_filters.FilterSet):
    """A task's log lines; `attempt` picks one attempt's."""

    attempt = IntegerFilter(min_value=0, max_value=2**31 - 1)

    class Meta:
        model = TaskLog
        fields = ["attempt"]
