"""The dashboard: counts the system keeps cheaply, and links into the lists behind them.

KPIs, charts and live counters come with the stats app; this page is their place.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from apps.tasks.states import TaskStatus

from ..selectors import dashboard_figures
from .common import render_page


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    figures = dashboard_figures(user=request.user)
    by_status = figures.get("by_status")
    statuses = ([(s.value, s.label, by_status.get(s.value, 0)) for s in TaskStatus]
                if by_status is not None else None)
    return render_page(request, "dashboard/home.html",
                       {"figures": figures, "statuses": statuses}, current="dashboard:home")
