"""Workflows: the list the API gives (status and progress from its counts) and a workflow's
graph drawn server-side as SVG (apps.dashboard.graph_layout), each node coloured by its task's
status through `data-status`, which the live updates change in place."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from ..graph_svg import graph_svg, steps_rows
from ..ops_selectors import WORKFLOWS_LIMIT, workflow_for_page, workflow_page, workflow_rows
from .common import render_page, row_id


@require_GET
@login_required
def workflow_list_page(request: HttpRequest) -> HttpResponse:
    rows, more = workflow_rows(user=request.user)
    return render_page(request, "dashboard/ops/workflows.html",
                       {"rows": rows, "more": more, "limit": WORKFLOWS_LIMIT},
                       current="dashboard:workflows")


@require_GET
@login_required
def workflow_detail_page(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = workflow_for_page(user=request.user, pk=row_id(pk))
    if workflow is None:
        raise Http404("No such workflow.")  # unknown, or none of its tasks is theirs: the API's 404
    page = workflow_page(user=request.user, workflow=workflow)
    return render_page(request, "dashboard/ops/workflow.html",
                       {"p": page, "svg": graph_svg(page=page, label=f"Graph of {workflow.name}"),
                        "rows": steps_rows(page=page)},
                       current="dashboard:workflows")
