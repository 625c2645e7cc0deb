"""The task list (the API's filter set, keyset pages) and the task page with its buttons."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from apps.core.actors import Actor
from apps.core.exceptions import PermissionDenied
from apps.core.filters import MAX_ID
from apps.tasks import services as task_services
from apps.tasks.filters import TaskFilter
from apps.tasks.models import Task
from apps.tasks.policies import API_ACTIONS, may_act

from ..forms import LogLineForm, ProgressForm, TaskActionForm
from ..pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, BadPageLink, keyset_page
from ..selectors import log_lines_after, task_for_page, task_list, task_page
from .common import back_to, filled_in, form_errors_as_message, render_page, run_service

# Query parameters that are the list's own, not filters.
PAGING = ("after", "before", "page_size")
# The filter set's labels are written for the API's schema; a page says them plainly.
LABELS = {
    "search": "Search", "status": "Status", "task_type": "Task type (key)",
    "assignee": "Holder (user id)", "parent": "Parent task (id)",
    "created_after": "Created from", "created_before": "Created before",
}


def _labelled(filters: TaskFilter) -> TaskFilter:
    for name, label in LABELS.items():
        filters.form.fields[name].label = label
    filters.form.order_fields(["search", "status", "task_type", "priority"])
    return filters


def _page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise BadPageLink(f"Page size must be a whole number from 1 to {MAX_PAGE_SIZE}.")
    return int(raw)


@require_GET
@login_required
def task_list_page(request: HttpRequest) -> HttpResponse:
    query = filled_in(request.GET)
    filters = _labelled(TaskFilter(query, queryset=task_list(user=request.user)))
    context = {"filters": filters, "page": None, "paging_error": ""}
    status = 200
    if not filters.is_valid():
        status = 400  # the form names each bad value; no rows for a query we could not read
    else:
        try:
            context["page"] = keyset_page(
                filters.qs, after=query.get("after"), before=query.get("before"),
                size=_page_size(query.get("page_size")))
        except BadPageLink as exc:
            context["paging_error"], status = str(exc), 400
    context["page_size"] = query.get("page_size", "")
    # The less used filters fold away (a phone's screen), unless one is in use or at fault.
    shown_first = list(filters.form.fields)[:4]
    context["more_open"] = any(name not in shown_first and name not in ("after", "before")
                               for name in query) or bool(
        set(filters.errors) - set(shown_first))
    for name in PAGING:
        query.pop(name, None)
    context["query"] = query.urlencode()
    return render_page(request, "dashboard/tasks/list.html", context, current="dashboard:tasks",
                       status=status)


def _visible_task(request: HttpRequest, pk) -> Task:
    task = task_for_page(user=request.user, pk=pk)
    if task is None:
        raise Http404("No such task.")  # unknown, or not the caller's to see: the API's 404
    return task


@require_GET
@login_required
def task_detail_page(request: HttpRequest, pk) -> HttpResponse:
    task = _visible_task(request, pk)
    context = {
        "p": task_page(user=request.user, task=task),
        "action_form": TaskActionForm(), "progress_form": ProgressForm(),
        "log_form": LogLineForm(),
    }
    return render_page(request, "dashboard/tasks/detail.html", context,
                       current="dashboard:tasks")


@require_GET
@never_cache
@login_required
def task_log_lines(request: HttpRequest, pk) -> HttpResponse:
    """The log lines after `?after=<line id>`, as the task page renders them: fetched by the
    page's live script when it hears that lines were added. The task page's own check (a
    task the caller cannot see is a 404)."""
    task = _visible_task(request, pk)
    raw = request.GET.get("after", "0")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > MAX_ID:
        return HttpResponseBadRequest("after: the id of a log line, a whole number")
    return render(request, "dashboard/tasks/_log_lines.html",
                  {"lines": log_lines_after(task=task, after=int(raw))})


def _require(request: HttpRequest, task, action: str) -> None:
    # The API's check, word for word (apps.tasks.api.views.task_for_action): a 403.
    if not may_act(request.user, task, action):
        raise PermissionDenied(f"You may not {action} this task.")


def _post_on_task(request: HttpRequest, pk, form_class, *, action: str | None,
                  call: Callable[[Task, dict], object], done: Callable[[dict], str],
                  ) -> HttpResponse:
    """One of the task page's forms: the task must be visible (else 404), the action allowed
    by the API's rule (else 403; an action the form names is checked once it is read), the
    form valid (else a message); a service's refusal comes back as a message too."""
    task = _visible_task(request, pk)
    back = back_to(request, reverse("dashboard:task", args=[task.pk]))
    if action is not None:
        _require(request, task, action)
    form = form_class(request.POST)
    if not form.is_valid():
        form_errors_as_message(request, form)
        return back
    if action is None:
        _require(request, task, form.cleaned_data["action"])
    run_service(request, lambda: call(task, form.cleaned_data), done=done(form.cleaned_data))
    return back


@require_POST
@login_required
def task_act(request: HttpRequest, pk) -> HttpResponse:
    return _post_on_task(
        request, pk, TaskActionForm, action=None,
        call=lambda task, data: task_services.task_act(
            task=task, action=data["action"], by=Actor.for_user(request.user),
            reason=data["reason"], error=data["reason"] if data["action"] == "fail" else "",
            among=API_ACTIONS),
        done=lambda data: f"Done: {data['action']}.")


@require_POST
@login_required
def task_progress(request: HttpRequest, pk) -> HttpResponse:
    return _post_on_task(
        request, pk, ProgressForm, action="progress",
        call=lambda task, data: task_services.task_report_progress(
            task=task, progress=data["progress"], by=Actor.for_user(request.user)),
        done=lambda data: f"Progress {data['progress']}% reported.")


@require_POST
@login_required
def task_log(request: HttpRequest, pk) -> HttpResponse:
    return _post_on_task(
        request, pk, LogLineForm, action="log",
        call=lambda task, data: task_services.task_log_append(
            task=task, lines=[(data["level"], data["message"])],
            by=Actor.for_user(request.user)),
        done=lambda data: "Log line added.")

