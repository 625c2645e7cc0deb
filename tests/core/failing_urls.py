"""Routes that fail in ways no real endpoint should, to test what happens when one does."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.decorators import api_view


class Unprintable:
    """A value whose repr is a lone surrogate: Django's DEBUG page, which shows each frame's
    local variables, cannot encode it (the traceback in the log, which does not, can)."""

    def __repr__(self) -> str:
        return "\ud800"


@api_view(["GET"])
def boom(request):
    raise RuntimeError("unexpected")


def plain_boom(request):
    raise RuntimeError("unexpected in a plain view")


def surrogate_boom(request):
    from apps.tasks.models import Task

    Task.objects.exists()  # the request now holds a database connection
    shown_on_the_debug_page = Unprintable()
    raise RuntimeError(f"failed holding {type(shown_on_the_debug_page).__name__}")


urlpatterns = [
    path("api/v1/boom", boom),
    path("api/v1/plain-boom", plain_boom),
    path("api/v1/surrogate-boom", surrogate_boom),
    path("surrogate-boom", surrogate_boom),
    path("", include("taskmanage.urls")),
]
