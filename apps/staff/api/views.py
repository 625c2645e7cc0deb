"""Staff API: thin views over the staff services, selectors and policies."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from apps.core.exceptions import PermissionDenied
from apps.tasks.api.serializers import TaskSerializer
from apps.tasks.api.views import task_queryset
from apps.tasks.filters import TaskFilter
from apps.tasks.models import Task

from .. import policies, services
from ..filters import StaffFilter, TeamFilter
from ..models import Skill, Staff, Team
from ..selectors import staff_directory, tasks_for_me
from .serializers import (
    LeaveSerializer,
    SkillSerializer,
    StaffCreateSerializer,
    StaffSerializer,
    StaffUpdateSerializer,
    TeamSerializer,
)


class CatalogueWrite(permissions.BasePermission):
    def has_permission(self, request, view):
        return (request.method in permissions.SAFE_METHODS
                or policies.may_edit_catalogue(request.user))


class SkillViewSet(viewsets.ModelViewSet):
    """Skills: everyone signed in reads them; admins define them."""

    queryset = Skill.objects.order_by("name")
    serializer_class = SkillSerializer
    permission_classes = [permissions.IsAuthenticated, CatalogueWrite]
    filterset_fields = ["name"]

    def perform_create(self, serializer):
        serializer.instance = services.skill_create(**serializer.validated_data)

    def perform_update(self, serializer):
        services.skill_update(skill=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.skill_delete(skill=instance)


class TeamViewSet(viewsets.ModelViewSet):
    """Teams: everyone signed in reads them; admins define them and name their managers."""

    queryset = Team.objects.order_by("name")
    serializer_class = TeamSerializer
    permission_classes = [permissions.IsAuthenticated, CatalogueWrite]
    filterset_class = TeamFilter

    def perform_create(self, serializer):
        serializer.instance = services.team_create(**serializer.validated_data)

    def perform_update(self, serializer):
        services.team_update(team=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.team_delete(team=instance)


class StaffViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The directory (everyone reads it), people's settings (managers, admins) and leave."""

    serializer_class = StaffSerializer
    filterset_class = StaffFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return staff_directory()

    def _staff(self, pk) -> Staff:
        return get_object_or_404(Staff.objects.select_related("user"), pk=pk)

    def _respond(self, staff: Staff, code=status.HTTP_200_OK) -> Response:
        return Response(StaffSerializer(staff_directory().get(pk=staff.pk)).data, status=code)

    @extend_schema(request=StaffCreateSerializer, responses={201: StaffSerializer})
    def create(self, request):
        if not policies.may_add_or_remove_people(request.user):
            raise PermissionDenied("Only admins add people.")
        ser = StaffCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        staff = services.staff_create(**ser.validated_data)
        return self._respond(staff, status.HTTP_201_CREATED)

    @extend_schema(request=StaffUpdateSerializer, responses=StaffSerializer)
    def partial_update(self, request, pk=None):
        staff = self._staff(pk)
        if not policies.may_manage(request.user, staff):
            raise PermissionDenied("You may not change this person.")
        ser = StaffUpdateSerializer(data=request.data, partial=True)
        ser.is_valid(raise_exception=True)
        fields = dict(ser.validated_data)
        if "team" in fields and not policies.may_move_to(
                request.user, getattr(fields["team"], "pk", None)):
            raise PermissionDenied("You may not move people to a team you do not manage.")
        staff = services.staff_update(staff=staff, **fields)
        return self._respond(staff)

    def destroy(self, request, pk=None):
        staff = self._staff(pk)
        if not policies.may_add_or_remove_people(request.user):
            raise PermissionDenied("Only admins remove people.")
        services.staff_delete(staff=staff)
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- leave --------------------------------------------------------------------------------
    def _staff_for_leave(self, pk) -> Staff:
        staff = self._staff(pk)
        if not policies.may_handle_leave(self.request.user, staff):
            raise PermissionDenied("Only the person, their manager or an admin handles leave.")
        return staff

    @extend_schema(methods=["GET"], responses=LeaveSerializer(many=True))
    @extend_schema(methods=["POST"], request=LeaveSerializer, responses={201: LeaveSerializer})
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def leaves(self, request, pk=None):
        staff = self._staff_for_leave(pk)
        if request.method == "POST":
            return self._create_leave(request, staff)
        rows = staff.leaves.select_related("substitute__user").order_by("start")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(LeaveSerializer(page, many=True).data)

    def _create_leave(self, request, staff: Staff) -> Response:
        ser = LeaveSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        leave = services.leave_request(staff=staff, **ser.validated_data)
        return Response(LeaveSerializer(leave).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], responses=LeaveSerializer)
    @extend_schema(methods=["PATCH"], request=LeaveSerializer, responses=LeaveSerializer)
    @extend_schema(methods=["DELETE"], responses={204: None})
    @action(detail=True, methods=["get", "patch", "delete"], filter_backends=[],
            url_path=r"leaves/(?P<leave_id>\d+)", url_name="leave-detail")
    def leave_detail(self, request, pk=None, leave_id=None):
        staff = self._staff_for_leave(pk)
        leave = get_object_or_404(staff.leaves.select_related("substitute__user"), pk=leave_id)
        if request.method == "DELETE":
            services.leave_delete(leave=leave)
            return Response(status=status.HTTP_204_NO_CONTENT)
        if request.method == "PATCH":
            ser = LeaveSerializer(leave, data=request.data, partial=True)
            ser.is_valid(raise_exception=True)
            leave = services.leave_update(leave=leave, **ser.validated_data)
        return Response(LeaveSerializer(leave).data)


class MyTasksView(generics.ListAPIView):
    """The caller's open work, shaped as /api/v1/tasks shapes it."""

    serializer_class = TaskSerializer
    filterset_class = TaskFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Task.objects.none()
        # The task API's own loading, so the shape and the constant query count stay in step.
        user = self.request.user
        return tasks_for_me(user=user, base=task_queryset(user))

