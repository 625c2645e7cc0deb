from django.urls import path

from .views import TokenObtainView, TokenRevokeView

urlpatterns = [
    path("auth/token", TokenObtainView.as_view(), name="auth-token"),
    path("auth/revoke", TokenRevokeView.as_view(), name="auth-revoke"),
]
