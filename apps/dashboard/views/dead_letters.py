"""Dead letters: tasks failed for good, filtered as `manage.py replay_dead` filters them, replayed
one by one or all shown at once through apps.tasks.services.tasks_replay_dead. Each row is
replayed under the API's rule for POST /api/v1/tasks/<id>/retry: the caller sees the task (else
404) and may retry it (apps.tasks.policies.may_act, else 403)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core.actors import Actor
from apps.core.exceptions import PermissionDenied
from apps.tasks import services as task_services
from apps.tasks.policies import may_act

from ..ops_forms import DeadLetterFilterForm, ReplayForm
from ..ops_selectors import DEAD_LETTERS_LIMIT, dead_letter_rows, tasks_to_replay
from .common import back_to, form_errors_as_message, render_page


@require_GET
@login_required
def dead_letters_page(request: HttpRequest) -> HttpResponse:
    form = DeadLetterFilterForm(request.GET or None)
    rows, more, status = [], False, 200
    if form.is_bound and not form.is_valid():
        status = 400  # the form names each bad value; no rows for a query we could not read
    else:
        data = form.cleaned_data if form.is_bound else {}
        task_type = data.get("task_type")
        rows, more = dead_letter_rows(user=request.user,
                                      task_type_key=task_type.key if task_type else None,
                                      since=data.get("since"))
    return render_page(request, "dashboard/ops/dead_letters.html",
                       {"form": form, "rows": rows, "more": more, "limit": DEAD_LETTERS_LIMIT,
                        "replayable": [t.pk for t, may in rows if may]},
                       current="dashboard:dead-letters", status=status)


@require_POST
@login_required
def replay(request: HttpRequest) -> HttpResponse:
    back = back_to(request, reverse("dashboard:dead-letters"))
    form = ReplayForm(request.POST)
    if not form.is_valid():
        form_errors_as_message(request, form)
        return back
    ids = form.cleaned_data["ids"]
    tasks = tasks_to_replay(user=request.user, task_ids=ids)
    if len(tasks) < len(ids):
        raise Http404("No such task.")  # unknown, or not the caller's to see: the API's 404
    if not all(may_act(request.user, task, "retry") for task in tasks):
        raise PermissionDenied("You may not retry this task.")
    replayed = task_services.tasks_replay_dead(by=Actor.for_user(request.user), task_ids=ids,
                                               limit=len(ids))
    skipped = len(ids) - replayed
    messages.success(request, f"{replayed} replayed (back to the queue).")
    if skipped:
        messages.warning(request, f"{skipped} skipped: no longer failed.")
    return back
