from rest_framework.routers import SimpleRouter

from .views import ExecutionUnitViewSet

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("execution-units", ExecutionUnitViewSet, basename="execution-unit")

urlpatterns = [
    *router.urls,
]
