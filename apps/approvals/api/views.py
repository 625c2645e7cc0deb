"""Approval API: the inbox and the decisions, thin views over the selectors and services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from apps.core.actors import Actor

from .. import services
from ..filters import ApprovalFilter
from ..models import ApprovalRequest
from ..selectors import approvals_visible_to
from .serializers import ApprovalRequestSerializer, DecisionSerializer, RejectionSerializer


class ApprovalRequestViewSet(viewsets.ReadOnlyModelViewSet):
    """Approval requests the caller may decide, plus their own; admins see all.

    A request the caller cannot see is a 404; one they see but may not decide is a 403; one
    that is no longer pending (decided meanwhile, by someone else too) is a 409.
    """

    serializer_class = ApprovalRequestSerializer
    filterset_class = ApprovalFilter
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return ApprovalRequest.objects.none()
        return approvals_visible_to(user=self.request.user)

    def _visible(self, pk) -> ApprovalRequest:
        return get_object_or_404(approvals_visible_to(user=self.request.user), pk=pk)

    def _decide(self, request, pk, serializer_class, decide) -> Response:
        target = self._visible(pk)
        ser = serializer_class(data=request.data)
        ser.is_valid(raise_exception=True)
        decided = decide(request_id=target.pk, by=Actor.for_user(request.user),
                         comment=ser.validated_data["comment"])
        # Read again with what the serializer joins; a decision that took the request out of
        # the caller's sight still answers with what they decided, never a 404 or 500.
        fresh = approvals_visible_to(user=request.user).filter(pk=target.pk).first()
        return Response(self.get_serializer(fresh or decided).data)

    @extend_schema(request=DecisionSerializer, responses=ApprovalRequestSerializer,
                   description="Approve: a creation request sends the task on (queued, blocked "
                               "or scheduled); a completion request completes it.")
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, pk, DecisionSerializer, services.approval_approve)

    @extend_schema(request=RejectionSerializer, responses=ApprovalRequestSerializer,
                   description="Reject, saying why: a creation request ends the task rejected; "
                               "a completion request sends it back to running for rework.")
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, pk, RejectionSerializer, services.approval_reject)

    @extend_schema(request=DecisionSerializer, responses=ApprovalRequestSerializer,
                   description="The requester takes the request back: a creation request "
                               "cancels the task; a completion request returns it to running.")
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        return self._decide(request, pk, DecisionSerializer, services.approval_withdraw)
