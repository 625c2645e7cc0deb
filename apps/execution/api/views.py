"""Execution units API: registration, heartbeats, claims, drain; thin views over services."""

from __future__ import annotations

from django.conf import settings
from django.utils.crypto import constant_time_compare
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from apps.accounts.roles import is_admin, sees_all_tasks
from apps.core.actors import Actor
from apps.core.exceptions import PermissionDenied

from .. import services, wake
from ..longpoll import WAKE_HEADER
from ..models import ExecutionUnit
from ..selectors import held_task_ids, units_listed
from .serializers import (
    ClaimResultSerializer,
    ClaimSerializer,
    GiveBackSerializer,
    GivenBackSerializer,
    HeartbeatResultSerializer,
    HeartbeatSerializer,
    OutcomesSerializer,
    RegisterSerializer,
    RegistrationSerializer,
    ResultsSerializer,
    UnitDetailSerializer,
    UnitSerializer,
    UnitStatusChangeSerializer,
)

SECRET_HEADER = "HTTP_X_REGISTRATION_SECRET"


def is_unit(request, unit: ExecutionUnit) -> bool:
    """The caller is this unit, with its own token."""
    return isinstance(request.auth, ExecutionUnit) and request.auth.pk == unit.pk


def holds_registration_secret(request, unit_type: str) -> bool:
    secrets = settings.UNIT_REGISTRATION_SECRETS
    given = request.META.get(SECRET_HEADER, "")
    expected = secrets.get(unit_type) or secrets.get("*")
    return bool(given and expected and constant_time_compare(given, expected))


class Registering(permissions.BasePermission):
    """Registration checks its caller itself (an admin, a secret, or the unit again)."""

    def has_permission(self, request, view):
        return view.action == "register" or bool(request.user and
                                                 request.user.is_authenticated)


@extend_schema(parameters=[OpenApiParameter("id", str, OpenApiParameter.PATH,
                                            description="The unit's id (worker-001).")])
class ExecutionUnitViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                           mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Units: admins and managers see them all; a unit sees, beats and claims as itself."""

    serializer_class = UnitSerializer
    lookup_field = "unit_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}"
    permission_classes = [Registering]
    filterset_fields = ["unit_type", "status"]
    machine_actions = frozenset({"register", "retrieve", "heartbeat", "claim", "results",
                                 "give_back", "drain", "undrain"})

    def get_queryset(self):
        return units_listed()

    def _unit(self, id) -> ExecutionUnit:
        caller = self.request.auth
        if isinstance(caller, ExecutionUnit) and caller.unit_id == id:
            return caller  # the unit asking about itself, read by its token just now
        return get_object_or_404(ExecutionUnit, unit_id=id)

    def _own(self, unit: ExecutionUnit) -> ExecutionUnit:
        """This unit, called by itself: another unit's id (or a person) is refused."""
        if not is_unit(self.request, unit):
            raise PermissionDenied("Only the unit itself, with its own token, may do this.")
        return unit

    def _own_with(self, id, serializer_class) -> tuple[ExecutionUnit, dict]:
        """The unit and the body's values, for the unit itself. In that order: an unknown
        unit is a 404 whatever the body says, a bad body a 400 whoever sends it."""
        unit = self._unit(id)
        ser = serializer_class(data=self.request.data)
        ser.is_valid(raise_exception=True)
        return self._own(unit), ser.validated_data

    def _own_or_admin(self, id) -> ExecutionUnit:
        unit = self._unit(id)
        if not (is_unit(self.request, unit) or is_admin(self.request.user)):
            raise PermissionDenied("Only an admin or the unit itself may do this.")
        return unit

    def list(self, request, *args, **kwargs):
        if not sees_all_tasks(request.user):
            raise PermissionDenied("Units are listed for admins and managers.")
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=UnitDetailSerializer)
    def retrieve(self, request, id=None):
        unit = self._unit(id)
        if not (is_unit(request, unit) or sees_all_tasks(request.user)):
            raise PermissionDenied("A unit is shown to admins, managers and itself.")
        context = {"held_task_ids": held_task_ids(unit=unit)}
        return Response(UnitDetailSerializer(unit, context=context).data)

    def destroy(self, request, id=None):
        unit = self._unit(id)
        if not is_admin(request.user):
            raise PermissionDenied("Only admins deregister units.")
        services.unit_deregister(unit=unit, by=Actor.for_user(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=RegisterSerializer, responses={201: RegistrationSerializer,
                                                          200: RegistrationSerializer})
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def register(self, request):
        ser = RegisterSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        fields = dict(ser.validated_data)
        unit_id = fields.pop("id")
        existing = ExecutionUnit.objects.filter(unit_id=unit_id).first()
        itself = existing is not None and is_unit(request, existing)
        admin = is_admin(request.user)
        if isinstance(request.auth, ExecutionUnit) and not itself:
            raise PermissionDenied("A unit registers only itself.")
        if not (admin or itself or holds_registration_secret(request, fields["unit_type"])):
            raise PermissionDenied("Registering a unit takes an admin's token or the "
                                   "registration secret of its unit type.")
        by = Actor.for_user(request.user) if request.user.is_authenticated else Actor.system(
            "registration")
        done = services.unit_register(unit_id=unit_id, by=by, may_rotate=admin or itself,
                                      **fields)
        body = RegistrationSerializer({"unit": done.unit, "token": done.token}).data
        return Response(body, status=status.HTTP_201_CREATED if done.created
                        else status.HTTP_200_OK)

    @extend_schema(request=HeartbeatSerializer, responses=HeartbeatResultSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def heartbeat(self, request, id=None):
        unit, data = self._own_with(id, HeartbeatSerializer)
        cancelled = services.unit_heartbeat(
            unit=unit, current_load=data["current_load"],
            metadata=data["metadata"], by=Actor.for_user(request.user))
        return Response({"status": unit.status, "cancelled": cancelled})

    @extend_schema(request=ClaimSerializer, responses=ClaimResultSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def claim(self, request, id=None):
        unit, data = self._own_with(id, ClaimSerializer)
        tasks = services.tasks_claim(unit=unit, max_tasks=data["max"],
                                     by=Actor.for_user(request.user))
        response = Response(ClaimResultSerializer({"tasks": tasks},
                                                  context={"request": request}).data)
        if not tasks and data["wait"] > 0:
            # Nothing yet: the server holds the claim on its event loop until work of this
            # type is queued, then asks here again (apps.execution.longpoll).
            response[WAKE_HEADER] = wake.channel(unit.unit_type)
        return response

    @extend_schema(request=ResultsSerializer, responses=OutcomesSerializer,
                   description="Results of many held tasks at once: each completed or failed "
                               "on its own; one the unit no longer holds is a `conflict` in "
                               "its place and the others stand.")
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def results(self, request, id=None):
        unit, data = self._own_with(id, ResultsSerializer)
        outcomes = services.unit_report_results(unit=unit, results=data["results"],
                                                by=Actor.for_user(request.user))
        return Response(OutcomesSerializer({"results": outcomes}).data)

    @extend_schema(request=GiveBackSerializer, responses=GivenBackSerializer,
                   description="Tasks the unit holds, back to the queue at once (a unit "
                               "shutting down gives back what it will not finish): no "
                               "failure, no retry backoff; routed again like any queued work.")
    @action(detail=True, methods=["post"], url_path="give-back", filter_backends=[],
            pagination_class=None)
    def give_back(self, request, id=None):
        unit, data = self._own_with(id, GiveBackSerializer)
        given = services.unit_give_back(unit=unit, task_ids=[str(t) for t in data["task_ids"]],
                                        by=Actor.for_user(request.user), reason=data["reason"])
        return Response(GivenBackSerializer({"given_back": given}).data)

    def _change_status(self, request, id, service) -> Response:
        ser = UnitStatusChangeSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        unit = service(unit=self._own_or_admin(id), by=Actor.for_user(request.user),
                       reason=ser.validated_data["reason"])
        return Response(UnitSerializer(unit).data)

    @extend_schema(request=UnitStatusChangeSerializer, responses=UnitSerializer,
                   description="No new work for the unit; what it holds, it finishes.")
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def drain(self, request, id=None):
        return self._change_status(request, id, services.unit_drain)

    @extend_schema(request=UnitStatusChangeSerializer, responses=UnitSerializer,
                   description="A draining unit takes work again.")
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def undrain(self, request, id=None):
        return self._change_status(request, id, services.unit_undrain)
