"""Staff workload: load against capacity, skills, leave and rates per person, and fairness.

Who sees whom is the stats API's rule (apps.stats.policies.visible_staff), so the page and
/api/v1/stats/staff show the same people the same figures.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from apps.core.exceptions import PermissionDenied
from apps.stats.policies import visible_staff
from apps.tasks.states import HELD_STATES

from ..filters import StaffPageFilter
from ..selectors import staff_workload
from .common import filled_in, render_page

# A person's open work in the task list: the states in which they hold it (as open_tasks).
HELD = ",".join(sorted(HELD_STATES))


@require_GET
@login_required
def staff_page(request: HttpRequest) -> HttpResponse:
    people = visible_staff(request.user)
    if people is None:
        # The API's answer to the same person (StaffStatsView).
        raise PermissionDenied("Only staff and their managers see staff figures.")
    filters = StaffPageFilter(filled_in(request.GET), queryset=people)
    valid = filters.is_valid()
    workload = staff_workload(people=filters.qs, hours=filters.window_hours) if valid else None
    context = {
        "filters": filters, "held": HELD, "workload": workload,
        "more_open": any(n in request.GET for n in ("skill", "min_level", "availability")),
    }
    return render_page(request, "dashboard/staff.html", context, current="dashboard:staff",
                       status=200 if valid else 400)
