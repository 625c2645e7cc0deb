"""The approvals inbox: pending requests, decided with a comment through the approval services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.approvals import services as approval_services
from apps.approvals.filters import ApprovalFilter
from apps.approvals.selectors import approvals_visible_to
from apps.core.actors import Actor

from ..forms import DecisionForm
from ..selectors import INBOX_LIMIT, approval_for_page, inbox
from .common import back_to, form_errors_as_message, render_page, row_id, run_service

DECIDE = {
    "approve": approval_services.approval_approve,
    "reject": approval_services.approval_reject,
    "withdraw": approval_services.approval_withdraw,
}
DONE = {"approve": "approved", "reject": "rejected", "withdraw": "withdrawn"}


@require_GET
@login_required
def inbox_page(request: HttpRequest) -> HttpResponse:
    filters = ApprovalFilter(request.GET, queryset=approvals_visible_to(user=request.user))
    valid = filters.is_valid()
    context = {"filters": filters, "rows": inbox(user=request.user, filterset_qs=filters.qs)
               if valid else [], "limit": INBOX_LIMIT}
    return render_page(request, "dashboard/approvals.html", context,
                       current="dashboard:approvals", status=200 if valid else 400)


@require_POST
@login_required
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    target = approval_for_page(user=request.user, pk=row_id(pk))
    if target is None:
        raise Http404("No such approval request.")
    back = back_to(request, reverse("dashboard:approvals"))
    form = DecisionForm(request.POST)
    if not form.is_valid():
        form_errors_as_message(request, form)
        return back
    verb, comment = form.cleaned_data["decision"], form.cleaned_data["comment"]
    # The service checks who may decide (a 403 when not), and that it is still pending.
    run_service(request, lambda: DECIDE[verb](
        request_id=target.pk, by=Actor.for_user(request.user), comment=comment,
    ), done=f"Request #{target.pk} {DONE[verb]}.")
    return back
