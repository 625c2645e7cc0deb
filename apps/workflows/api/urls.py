from rest_framework.routers import SimpleRouter

from .views import WorkflowViewSet

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("workflows", WorkflowViewSet, basename="workflow")

urlpatterns = router.urls
