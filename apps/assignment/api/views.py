"""Assignment API: dry-run candidates, reassignment, assignment records."""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import api_view
from rest_framework.response import Response

from apps.accounts.roles import is_admin, is_manager
from apps.core.actors import Actor
from apps.core.exceptions import PermissionDenied
from apps.core.filters import IdFilter, UUIDFilter
from apps.tasks.api.serializers import TaskDetailSerializer
from apps.tasks.api.views import task_for_action, task_response
from apps.tasks.selectors import tasks_visible_to
from apps.tasks.states import TaskStatus

from .. import selectors, services
from ..models import Assignment, Unassignable
from .serializers import (
    AssignmentSerializer,
    CandidateSerializer,
    ReassignSerializer,
    UnassignableSerializer,
)


@extend_schema(responses=CandidateSerializer(many=True),
               description="Rank the candidate pool for a task, without assigning it.")
@api_view(["GET"])
def task_candidates(request, pk):
    task = task_for_action(request, pk, "candidates")
    ranked = services.task_candidates(task=task)
    return Response(CandidateSerializer(ranked, many=True).data)


@extend_schema(request=ReassignSerializer, responses=TaskDetailSerializer)
@api_view(["POST"])
def task_reassign(request, pk):
    task = task_for_action(request, pk, "reassign")
    ser = ReassignSerializer(data=request.data)
    ser.is_valid(raise_exception=True)
    target = ser.validated_data["target"]
    task = services.task_reassign(
        task_id=task.pk, by=Actor.for_user(request.user),
        target=target.user if target else None, force=ser.validated_data["force"],
        reason=ser.validated_data["reason"],
    )
    return task_response(request, task)


class AssignmentFilter(django_filters.FilterSet):
    # By id, not a choice among existing rows: an unknown task or person is an empty page,
    # as on the task list, not a 400.
    task = UUIDFilter(field_name="task_id")
    assignee_user = IdFilter(field_name="assignee_user_id")

    class Meta:
        model = Assignment
        fields = ["task", "assignee_user", "outcome", "reason", "strategy"]


class AssignmentViewSet(viewsets.ReadOnlyModelViewSet):
    """Assignment records of the tasks the caller can see."""

    serializer_class = AssignmentSerializer
    filterset_class = AssignmentFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Assignment.objects.none()
        visible = tasks_visible_to(user=self.request.user).values("pk")
        return Assignment.objects.filter(task__in=visible).select_related("assignee_user")


class UnassignableViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Queued tasks the caller can see that nobody can take right now, and why."""

    serializer_class = UnassignableSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Unassignable.objects.none()
        visible = tasks_visible_to(user=self.request.user).filter(status=TaskStatus.QUEUED)
        return (Unassignable.objects.filter(task__in=visible.values("pk"))
                .select_related("task__task_type"))


@extend_schema(responses=OpenApiTypes.OBJECT,
               description="Queue and assignment figures: queued, unassignable, awaiting "
                           "confirmation, outcomes. Managers and admins.")
@api_view(["GET"])
def assignment_stats(request):
    _require_manager(request.user)
    return Response(selectors.assignment_stats())


def _require_manager(user) -> None:
    if not (is_admin(user) or is_manager(user)):
        raise PermissionDenied("Stats are for managers and admins.")
