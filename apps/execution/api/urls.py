from django.urls import re_path
from rest_framework.routers import SimpleRouter

from . import views
from .views import ExecutionUnitViewSet

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("execution-units", ExecutionUnitViewSet, basename="execution-unit")

urlpatterns = [
    re_path(r"^stats/workers/?$", views.workers_stats, name="stats-workers"),
    *router.urls,
]
