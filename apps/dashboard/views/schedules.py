"""Schedules: the list with next runs and last spawns, a schedule's page with its next runs and
spawns, and Enable / Disable / Trigger now through the schedule services. Who may do what is the
API's rule word for word (apps.schedules.policies, as ScheduleViewSet.initial asks it): people
read, admins and managers run them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core.actors import Actor
from apps.core.exceptions import PermissionDenied
from apps.schedules import policies
from apps.schedules import services as schedule_services

from ..ops_forms import ScheduleActionForm
from ..ops_selectors import (
    SCHEDULES_LIMIT,
    schedule_for_page,
    schedule_page,
    schedule_rows,
)
from .common import back_to, form_errors_as_message, render_page, row_id, run_service


def _may_read(request: HttpRequest) -> None:
    if not policies.may_read(request.user):
        raise PermissionDenied("People read schedules, units do not.")


@require_GET
@login_required
def schedule_list_page(request: HttpRequest) -> HttpResponse:
    _may_read(request)
    rows, more = schedule_rows(user=request.user)
    return render_page(request, "dashboard/ops/schedules.html",
                       {"rows": rows, "more": more, "limit": SCHEDULES_LIMIT,
                        "may_manage": policies.may_manage(request.user)},
                       current="dashboard:schedules")


@require_GET
@login_required
def schedule_detail_page(request: HttpRequest, pk: int) -> HttpResponse:
    _may_read(request)
    schedule = schedule_for_page(pk=row_id(pk))
    if schedule is None:
        raise Http404("No such schedule.")
    return render_page(request, "dashboard/ops/schedule.html",
                       {"p": schedule_page(user=request.user, schedule=schedule)},
                       current="dashboard:schedules")


@require_POST
@login_required
def schedule_act(request: HttpRequest, pk: int) -> HttpResponse:
    # The API refuses before it looks the schedule up; so does the page.
    if not policies.may_manage(request.user):
        raise PermissionDenied("Only admins and managers manage schedules.")
    schedule = schedule_for_page(pk=row_id(pk))
    if schedule is None:
        raise Http404("No such schedule.")
    back = back_to(request, reverse("dashboard:schedule", args=[schedule.pk]))
    form = ScheduleActionForm(request.POST)
    if not form.is_valid():
        form_errors_as_message(request, form)
        return back
    by, action = Actor.for_user(request.user), form.cleaned_data["action"]
    if action == "trigger":
        spawned = []
        if run_service(request, lambda: spawned.append(schedule_services.schedule_trigger(
                schedule_id=schedule.pk, by=by)), done=f"{schedule.name}: triggered now."):
            spawn = spawned[0]
            if spawn.task_id is None:  # the overlap policy skipped it, as the API's 200 says
                messages.warning(request, f"Nothing spawned: {spawn.skipped}.")
        return back
    enabled = action == "enable"
    run_service(request, lambda: schedule_services.schedule_set_enabled(
        schedule_id=schedule.pk, enabled=enabled, by=by),
        done=f"{schedule.name}: {'enabled' if enabled else 'disabled'}.")
    return back
