"""My tasks: a staff member's own open work, worked from one page; and their leave."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from apps.core.admin import add_form_errors
from apps.core.exceptions import InvalidInput, PermissionDenied
from apps.staff import services as staff_services

from ..forms import LeaveForm, LogLineForm, ProgressForm, TaskActionForm
from ..selectors import my_leaves, my_tasks
from .common import render_page


def _staff(user):
    return getattr(user, "staff", None)


def _page(request: HttpRequest, leave_form: LeaveForm | None, status: int = 200) -> HttpResponse:
    staff = _staff(request.user)
    context = {
        "rows": my_tasks(user=request.user),
        "staff": staff,
        "leaves": my_leaves(staff=staff) if staff is not None else [],
        "leave_form": leave_form,
        "action_form": TaskActionForm(), "progress_form": ProgressForm(),
        "log_form": LogLineForm(),
    }
    return render_page(request, "dashboard/my_tasks.html", context,
                       current="dashboard:my-tasks", status=status)


@require_GET
@login_required
def my_tasks_page(request: HttpRequest) -> HttpResponse:
    staff = _staff(request.user)
    return _page(request, LeaveForm(staff=staff) if staff is not None else None)


@require_POST
@login_required
def request_leave(request: HttpRequest) -> HttpResponse:
    staff = _staff(request.user)
    if staff is None:
        raise PermissionDenied("Only staff members take leave.")
    form = LeaveForm(request.POST, staff=staff)
    if form.is_valid():
        try:
            staff_services.leave_request(staff=staff, **form.cleaned_data)
        except InvalidInput as exc:  # overlaps another leave, ends before it starts…
            add_form_errors(form, exc)
        else:
            messages.success(request, "Leave requested.")
            return redirect("dashboard:my-tasks")
    return _page(request, form, status=400)
