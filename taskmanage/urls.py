from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("apps.accounts.api.urls")),
    path("api/v1/", include("apps.tasks.api.urls")),
    path("api/v1/", include("apps.staff.api.urls")),
    path("api/v1/", include("apps.assignment.api.urls")),
    path("api/v1/", include("apps.approvals.api.urls")),
    path("api/v1/", include("apps.execution.api.urls")),
    path("api/v1/", include("apps.knowledge.api.urls")),
    path("api/v1/", include("apps.schedules.api.urls")),
    path("api/v1/", include("apps.workflows.api.urls")),
    path("api/v1/", include("apps.callbacks.api.urls")),
    path("api/v1/", include("apps.stats.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api-docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api-docs/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("", include("apps.ops.urls")),  # /health, /health/<check>, /metrics
    path("", include("apps.dashboard.urls")),  # the pages: /, /login/, /dashboard/, /tasks/…
]
