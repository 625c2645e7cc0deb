from django.urls import re_path
from rest_framework.routers import SimpleRouter

from .views import DocumentViewSet, SearchView

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("knowledge/documents", DocumentViewSet, basename="knowledge-document")

urlpatterns = [
    re_path(r"^knowledge/search/?$", SearchView.as_view(), name="knowledge-search"),
    *router.urls,
]
