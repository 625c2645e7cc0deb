from django.urls import re_path

from .views import CallbackSecretViewSet, TaskCallbacksViewSet

# The contract spells paths without a trailing slash; accept one too, without a redirect.
urlpatterns = [
    re_path(r"^callbacks/secret/?$",
            CallbackSecretViewSet.as_view({"get": "retrieve", "post": "rotate"}),
            name="callback-secret"),
    re_path(r"^tasks/(?P<task_pk>[^/]+)/callbacks/?$",
            TaskCallbacksViewSet.as_view({"get": "list"}), name="task-callbacks"),
]
