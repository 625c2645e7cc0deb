from rest_framework.routers import SimpleRouter

from .views import ApprovalRequestViewSet

router = SimpleRouter()
# The contract spells paths without a trailing slash; accept one too, without a redirect.
router.trailing_slash = "/?"
router.register("approvals", ApprovalRequestViewSet, basename="approval")

urlpatterns = router.urls
