from rest_framework.routers import SimpleRouter

from .views import TaskTypeViewSet, TaskViewSet

router = SimpleRouter()
# The contract spells paths without a trailing slash; accept one too, without a redirect.
router.trailing_slash = "/?"
router.register("task-types", TaskTypeViewSet, basename="task-type")
router.register("tasks", TaskViewSet, basename="task")

urlpatterns = router.urls
