from django.urls import re_path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("assignments", views.AssignmentViewSet, basename="assignment")
router.register("unassignable", views.UnassignableViewSet, basename="unassignable")

urlpatterns = [
    re_path(r"^tasks/(?P<pk>[0-9a-f-]{36})/candidates/?$", views.task_candidates,
            name="task-candidates"),
    re_path(r"^tasks/(?P<pk>[0-9a-f-]{36})/reassign/?$", views.task_reassign,
            name="task-reassign"),
    re_path(r"^stats/assignment/?$", views.assignment_stats, name="stats-assignment"),
    *router.urls,
]
