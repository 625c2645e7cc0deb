"""The stats endpoints: thin. Check who asks, call a selector, shape the answer."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.execution import selectors as unit_selectors

from .. import policies, selectors
from .serializers import (
    OverviewSerializer,
    QueuesSerializer,
    StaffQuerySerializer,
    StaffStatsSerializer,
    WorkersSerializer,
)

SYSTEM_ONLY = ("Admins and managers (whoever may list every task); anyone else gets a 403.")


class _SystemFigures(APIView):
    def check_permissions(self, request):
        super().check_permissions(request)
        if not policies.may_see_system(request.user):
            raise exceptions.PermissionDenied("Only admins and managers see system figures.")


class OverviewView(_SystemFigures):
    @extend_schema(responses={200: OverviewSerializer}, description=(
        "Tasks by status, throughput and completion rate over the last hour and day, mean "
        "and 95th percentile running time of the day's completions, SLA breaches. "
        + SYSTEM_ONLY))
    def get(self, request):
        return Response(OverviewSerializer(selectors.overview()).data)


class QueuesView(_SystemFigures):
    @extend_schema(responses={200: QueuesSerializer}, description=(
        "Queued tasks per task type and priority with the age of the oldest, and the same "
        "summed per queue. " + SYSTEM_ONLY))
    def get(self, request):
        now = timezone.now()
        rows = selectors.queue_depths(now=now)
        return Response(QueuesSerializer({
            "as_of": now, "total_depth": sum(r.depth for r in rows), "by_type": rows,
            "by_queue": selectors.queue_totals(rows=rows),
        }).data)


class WorkersView(_SystemFigures):
    @extend_schema(responses={200: WorkersSerializer}, description=(
        "Execution units per unit type and status, heartbeats per minute, and per unit type: "
        "online, draining, offline, their capacity and the tasks they hold. " + SYSTEM_ONLY))
    def get(self, request):
        rows = selectors.unit_stats()
        return Response(WorkersSerializer({
            **unit_selectors.workers_stats(),
            "online": sum(r.online for r in rows), "by_type": rows}).data)


class StaffStatsView(APIView):
    @extend_schema(
        parameters=[StaffQuerySerializer], responses={200: StaffStatsSerializer},
        description=(
            "Per person: load against capacity, and over the window's ended work: completion, "
            "on-time and skill-match rates; the Gini coefficient of load across the people "
            "shown. Admins and the managers group see everyone, a team manager their teams' "
            "members, a member of staff only themselves; anyone else gets a 403."))
    def get(self, request):
        people = policies.visible_staff(request.user)
        if people is None:
            raise exceptions.PermissionDenied("Only staff and their managers see staff figures.")
        query = StaffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if "team" in query.validated_data:
            people = people.filter(team_id=query.validated_data["team"])
        now = timezone.now()
        since = now - timedelta(hours=query.validated_data["hours"])
        return Response(StaffStatsSerializer(
            selectors.staff_stats(people=people, since=since, now=now)).data)
