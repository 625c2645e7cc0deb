from django.urls import re_path
from rest_framework.routers import SimpleRouter

from .views import MyTasksView, SkillViewSet, StaffViewSet, TeamViewSet

router = SimpleRouter()
# The contract spells paths without a trailing slash; accept one too, without a redirect.
router.trailing_slash = "/?"
router.register("skills", SkillViewSet, basename="skill")
router.register("teams", TeamViewSet, basename="team")
router.register("staff", StaffViewSet, basename="staff")

urlpatterns = [
    re_path(r"^me/tasks/?$", MyTasksView.as_view(), name="my-tasks"),
    *router.urls,
]
