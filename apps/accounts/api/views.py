from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from apps.core.clients import client_ip

from ..authentication import BearerTokenAuthentication
from ..models import ApiToken
from ..services import InvalidCredentials, LoginRateLimited, token_obtain, token_revoke
from .serializers import TokenObtainSerializer, TokenSerializer


class TokenObtainView(APIView):
    """Exchange a username and password for an API token."""

    # Login runs before there is anyone to authenticate; it has its own exact counters
    # (apps.accounts.ratelimit) instead of DRF's throttles.
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(
        operation_id="auth_token_obtain",
        tags=["auth"],
        request=TokenObtainSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(
                description="Missing fields (field errors), or wrong credentials or an "
                "inactive user (`non_field_errors`)."
            ),
            429: OpenApiResponse(
                description="Too many attempts from this client or for this username; "
                "see Retry-After."
            ),
        },
        auth=[],
    )
    def post(self, request):
        serializer = TokenObtainSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            token, raw = token_obtain(
                **serializer.validated_data, client_ip=client_ip(request), request=request._request
            )
        except LoginRateLimited as exc:
            # Throttled -> 429 with a Retry-After header (DRF's exception handler adds it).
            raise exceptions.Throttled(wait=exc.retry_after) from exc
        except InvalidCredentials as exc:
            # 400 and not 401: the client did not present credentials in an HTTP auth scheme
            # we could challenge, it sent a form that did not validate (as DRF's own
            # obtain_auth_token does).
            raise exceptions.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: [str(exc)]}, code="invalid_credentials"
            ) from exc
        return Response(TokenSerializer({"token": raw, "expires_at": token.expires_at}).data)


class TokenRevokeView(APIView):
    """Revoke the token this request is authenticated with."""

    # Bearer only: a session has no token to revoke, and without SessionAuthentication the
    # endpoint also needs no CSRF token.
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="auth_token_revoke",
        tags=["auth"],
        request=None,
        responses={
            204: OpenApiResponse(description="The token is revoked."),
            401: OpenApiResponse(description="No valid bearer token."),
        },
    )
    def post(self, request):
        assert isinstance(request.auth, ApiToken)  # guaranteed by the authentication class
        token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)
