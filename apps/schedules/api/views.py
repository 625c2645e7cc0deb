"""Schedules API: thin views over the schedule services and selectors."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.actors import Actor
from apps.core.exceptions import PermissionDenied

from .. import policies, services
from ..models import Schedule
from ..selectors import schedules_with_last_spawn
from .serializers import (
    BackfillResultSerializer,
    BackfillSerializer,
    NextQuerySerializer,
    NextRunsSerializer,
    ScheduleSerializer,
    ScheduleWriteSerializer,
    SpawnSerializer,
)

REFUSED = {403: OpenApiResponse(description="Not an admin or a manager, or a unit's token.")}
MISSING = {404: OpenApiResponse(description="No such schedule.")}
BAD = {400: OpenApiResponse(description="Invalid input, naming the field.")}


@extend_schema_view(
    list=extend_schema(responses={200: ScheduleSerializer(many=True), **REFUSED}),
    retrieve=extend_schema(responses={200: ScheduleSerializer, **REFUSED, **MISSING}),
    destroy=extend_schema(responses={204: None, **REFUSED, **MISSING}),
)
class ScheduleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                      viewsets.GenericViewSet):
    """Schedules that spawn tasks. Admins and managers define and run them; staff read."""

    serializer_class = ScheduleSerializer
    # No unit's token is accepted anywhere here.
    machine_actions = frozenset()

    def get_queryset(self):
        return schedules_with_last_spawn()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        reading = self.action in ("list", "retrieve", "next")
        allowed = policies.may_read if reading else policies.may_manage
        if not allowed(request.user):
            raise PermissionDenied("Only admins and managers manage schedules."
                                   if not reading else "People read schedules, units do not.")

    def _by(self) -> Actor:
        return Actor.for_user(self.request.user)

    def _answer(self, schedule: Schedule, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=schedule.pk)
        return Response(ScheduleSerializer(fresh).data, status=code)

    @extend_schema(request=ScheduleWriteSerializer,
                   responses={201: ScheduleSerializer, **BAD, **REFUSED})
    def create(self, request, *args, **kwargs):
        ser = ScheduleWriteSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        fields = {k: v for k, v in ser.validated_data.items()
                  if v is not None or k not in services.WHEN_FIELDS}
        schedule = services.schedule_create(fields=fields, by=self._by())
        return self._answer(schedule, status.HTTP_201_CREATED)

    @extend_schema(request=ScheduleWriteSerializer,
                   responses={200: ScheduleSerializer, **BAD, **REFUSED, **MISSING})
    def partial_update(self, request, *args, **kwargs):
        schedule = self.get_object()
        ser = ScheduleWriteSerializer(data=request.data, partial=True)
        ser.is_valid(raise_exception=True)
        schedule = services.schedule_update(schedule_id=schedule.pk,
                                            changes=dict(ser.validated_data), by=self._by())
        return self._answer(schedule)

    def destroy(self, request, *args, **kwargs):
        services.schedule_delete(schedule_id=self.get_object().pk, by=self._by())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: ScheduleSerializer, **REFUSED, **MISSING})
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        request.data  # noqa: B018 (no body is expected, but one that is no JSON is a 400)
        return self._answer(services.schedule_set_enabled(
            schedule_id=self.get_object().pk, enabled=True, by=self._by()))

    @extend_schema(request=None, responses={200: ScheduleSerializer, **REFUSED, **MISSING})
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        request.data  # noqa: B018 (no body is expected, but one that is no JSON is a 400)
        return self._answer(services.schedule_set_enabled(
            schedule_id=self.get_object().pk, enabled=False, by=self._by()))

    @extend_schema(request=None, responses={
        201: SpawnSerializer, 200: OpenApiResponse(
            SpawnSerializer, description="Nothing spawned: the overlap policy skipped it."),
        **REFUSED, **MISSING})
    @action(detail=True, methods=["post"])
    def trigger(self, request, pk=None):
        request.data  # noqa: B018 (no body is expected, but one that is no JSON is a 400)
        spawn = services.schedule_trigger(schedule_id=self.get_object().pk, by=self._by())
        code = status.HTTP_201_CREATED if spawn.task_id else status.HTTP_200_OK
        return Response(SpawnSerializer(spawn).data, status=code)

    @extend_schema(parameters=[NextQuerySerializer],
                   responses={200: NextRunsSerializer, **BAD, **REFUSED, **MISSING})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def next(self, request, pk=None):
        schedule = self.get_object()
        query = NextQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        times = services.next_runs(schedule=schedule, count=query.validated_data["count"])
        return Response({"timezone": schedule.timezone,
                         "next": [t.isoformat() for t in times]})

    @extend_schema(request=BackfillSerializer,
                   responses={201: BackfillResultSerializer, **BAD, **REFUSED, **MISSING})
    @action(detail=True, methods=["post"])
    def backfill(self, request, pk=None):
        schedule = self.get_object()
        ser = BackfillSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        spawns = services.schedule_backfill(
            schedule_id=schedule.pk, start=data["start"], end=data["end"],
            serial=data["mode"] == "serial", by=self._by())
        return Response({"spawned": SpawnSerializer(spawns, many=True).data},
                        status=status.HTTP_201_CREATED)
