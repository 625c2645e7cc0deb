"""Execution units: their status, load and last heartbeat, their work, and drain / undrain.

The API's rules: units are listed to whoever may list every task (ExecutionUnitViewSet.list:
sees_all_tasks), and a person drains or undrains one only as an admin (_own_or_admin). Both
buttons call the services the API's drain endpoints call.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core.actors import Actor
from apps.core.exceptions import PermissionDenied
from apps.execution import services as unit_services
from apps.execution.selectors import units_listed

from ..filters import UnitPageFilter
from ..forms import UnitStatusForm
from ..policies import may_change_units, may_see_units
from ..selectors import unit_for_page, unit_list, unit_page
from .common import back_to, filled_in, form_errors_as_message, render_page, run_service

CHANGE = {"drain": unit_services.unit_drain, "undrain": unit_services.unit_undrain}
DONE = {"drain": "draining: it takes no new work", "undrain": "online again"}


def _require_units(request: HttpRequest) -> None:
    if not may_see_units(request.user):
        raise PermissionDenied("Units are listed for admins and managers.")


def _unit(unit_id: str):
    unit = unit_for_page(unit_id=unit_id)
    if unit is None:
        raise Http404("No such unit.")
    return unit


@require_GET
@login_required
def unit_list_page(request: HttpRequest) -> HttpResponse:
    _require_units(request)
    filters = UnitPageFilter(filled_in(request.GET), queryset=units_listed())
    valid = filters.is_valid()
    rows, live = unit_list(units=filters.qs) if valid else ([], True)
    return render_page(request, "dashboard/units/list.html",
                       {"filters": filters, "rows": rows, "live": live},
                       current="dashboard:units", status=200 if valid else 400)


@require_GET
@login_required
def unit_detail_page(request: HttpRequest, unit_id: str) -> HttpResponse:
    _require_units(request)
    page = unit_page(unit=_unit(unit_id))
    context = {"p": page, "may_change": may_change_units(request.user),
               "form": UnitStatusForm()}
    return render_page(request, "dashboard/units/detail.html", context,
                       current="dashboard:units")


@require_POST
@login_required
def unit_change_status(request: HttpRequest, unit_id: str, change: str) -> HttpResponse:
    _require_units(request)
    unit = _unit(unit_id)
    if not may_change_units(request.user):
        raise PermissionDenied("Only an admin or the unit itself may do this.")
    back = back_to(request, reverse("dashboard:unit", args=[unit.unit_id]))
    form = UnitStatusForm(request.POST)
    if not form.is_valid():
        form_errors_as_message(request, form)
        return back
    # A unit that is not in a state to take the change (offline, already draining) is a
    # Conflict from the service: a message, nothing written.
    run_service(request, lambda: CHANGE[change](
        unit=unit, by=Actor.for_user(request.user), reason=form.cleaned_data["reason"],
    ), done=f"{unit.unit_id} is {DONE[change]}.")
    return back
