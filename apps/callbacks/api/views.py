"""Callback endpoints: the caller's own secret, and a task's deliveries."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.core.actors import Actor
from apps.tasks.selectors import tasks_visible_to

from .. import selectors, services
from .serializers import CallbackDeliverySerializer, CallbackSecretSerializer


class CallbackSecretViewSet(viewsets.ViewSet):
    """Your callback secret: the key that signs the callbacks of the tasks you create. Each
    caller sees only their own (admins included); execution units have none."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: CallbackSecretSerializer},
                   description="Your secret, made on first use.")
    def retrieve(self, request):
        row = services.callback_secret_get(by=Actor.for_user(request.user))
        return Response(CallbackSecretSerializer(row).data)

    @extend_schema(request=None, responses={200: CallbackSecretSerializer},
                   description="A new secret; the old one signs nothing from now on.")
    def rotate(self, request):
        row = services.callback_secret_rotate(by=Actor.for_user(request.user))
        return Response(CallbackSecretSerializer(row).data)


class TaskCallbacksViewSet(viewsets.ViewSet):
    """A task's callback deliveries and their attempts, for whoever may see the task."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: CallbackDeliverySerializer(many=True)},
                   parameters=[OpenApiParameter("task_pk", OpenApiTypes.UUID,
                                                OpenApiParameter.PATH)])
    def list(self, request, task_pk=None):
        # DRF's get_object_or_404: a malformed id is not found, not an error.
        task = get_object_or_404(tasks_visible_to(user=request.user), pk=task_pk)
        rows = selectors.deliveries_of(task=task)[:selectors.LIST_LIMIT]
        return Response(CallbackDeliverySerializer(rows, many=True).data)
