"""API plumbing shared by every app: domain errors become clean HTTP answers."""

from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .exceptions import Conflict, PermissionDenied


def exception_handler(exc, context):
    if isinstance(exc, Conflict):
        body = {"detail": str(exc), "status": exc.current, "allowed_transitions": exc.allowed}
        return Response(body, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, PermissionDenied):
        return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
    return drf_exception_handler(exc, context)
