"""What every page view shares: the layout's context, and a service call that ends in a message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from apps.core.exceptions import Conflict, InvalidInput
from apps.core.filters import MAX_ID

from ..navigation import navigation


def render_page(request: HttpRequest, template: str, context: dict[str, Any], *,
                current: str = "", status: int = 200) -> HttpResponse:
    context = {**context, "nav": navigation(request.user, current=current)}
    return render(request, template, context, status=status)


def back_to(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    """Where a form posted from asked to go back to (`next`), if it is one of our pages."""
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = fallback
    return HttpResponseRedirect(target)


def filled_in(query: QueryDict) -> QueryDict:
    """The filters a person filled in. A form sends its empty fields too (`parent=`), which
    the API reads as a value given and refused; on a page an empty field means "any"."""
    given = QueryDict(mutable=True)
    for name, values in query.lists():
        kept = [v for v in values if v != ""]
        if kept:
            given.setlist(name, kept)
    return given


def run_service(request: HttpRequest, call: Callable[[], Any], *, done: str) -> bool:
    """Call a service; its refusal (the state moved on, a rule broken) becomes an error
    message on the next page rather than an error page. A PermissionDenied is left to
    propagate: Django answers it with a 403, as the API does."""
    try:
        call()
    except ObjectDoesNotExist as exc:  # deleted since the page was read
        raise Http404("It no longer exists.") from exc
    except Conflict as exc:
        messages.error(request, f"Not done: {exc}.")
        return False
    except InvalidInput as exc:
        fields = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in exc.fields.items())
        messages.error(request, f"Not done: {fields or exc}.")
        return False
    messages.success(request, done)
    return True


def form_errors_as_message(request: HttpRequest, form) -> None:
    for name, errors in form.errors.items():
        label = form.fields[name].label or name if name in form.fields else ""
        prefix = f"{label}: " if label else ""
        messages.error(request, f"Not done: {prefix}{' '.join(errors)}")


def row_id(value: int) -> int:
    """A row id from the URL; past the largest id a column holds it is simply not found
    (PostgreSQL would refuse the comparison with an error)."""
    if value > MAX_ID:
        raise Http404
    return value
