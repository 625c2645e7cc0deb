"""The dashboard: the caller's own work for everyone; for admins and managers the system's
KPIs, charts, queues, units, staff load, recent failures and upcoming schedule runs (the
figures the stats API shows them, from the same selectors and the same permission rule)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from apps.tasks.states import TaskStatus

from ..selectors import chart_data, dashboard_figures
from .common import render_page


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    figures = dashboard_figures(user=request.user)
    statuses = None
    if figures.system is not None:
        counts = figures.system.overview.counts.counts
        statuses = [(s.value, s.label, counts.get(s.value, 0)) for s in TaskStatus]
    return render_page(request, "dashboard/home.html",
                       {"figures": figures, "system": figures.system, "staff": figures.staff,
                        "statuses": statuses, "charts": chart_data(figures=figures)},
                       current="dashboard:home")
