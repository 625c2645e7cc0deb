"""The dashboard in a real browser: a manager's charts are drawn by the vendored Chart.js
(no CDN: the page works offline), at desktop and phone widths. Screenshots are kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.tasks.models import Task
from apps.tasks.states import TaskStatus
from tests.builders import make_task_type, task_in_state

pytestmark = pytest.mark.django_db(transaction=True)
S = TaskStatus

# For each chart on the page: a Chart.js instance on it, and some pixel of it not blank.
CHARTS_DRAWN = """() => [...document.querySelectorAll('canvas[data-chart]')].map(canvas => {
  const chart = window.Chart && window.Chart.getChart(canvas);
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) inked++; }
  return {name: canvas.dataset.chart, chart: !!chart, type: chart && chart.config.type,
          inked: inked, width: canvas.width};
})"""


@pytest.fixture
def a_day(rita, alice):
    kind = make_task_type("triage", max_retries=0)
    task_in_state(S.QUEUED, creator=rita, task_type=kind, title="Label tickets")
    task_in_state(S.RUNNING, creator=rita, assignee=alice, task_type=kind)
    for hours in (1, 3, 3, 7):
        done = task_in_state(S.COMPLETED, creator=rita, assignee=alice, task_type=kind)
        finished = timezone.now() - timedelta(hours=hours)
        Task.objects.filter(pk=done.pk).update(started_at=finished - timedelta(minutes=5),
                                               finished_at=finished)


def test_a_managers_dashboard_draws_every_chart(site, sign_in, shoot, margaret, a_day):
    page = sign_in(margaret)
    page.wait_for_function("() => window.Chart && document.querySelectorAll("
                           "'canvas[data-chart]').length > 0")

    drawn = page.evaluate(CHARTS_DRAWN)

    assert {c["name"] for c in drawn} >= {"throughput", "status", "staff"}
    assert all(c["chart"] and c["inked"] > 0 and c["width"] > 0 for c in drawn), drawn
    assert page.get_by_role("heading", name="Key figures").is_visible()
    shoot(page, "09-dashboard-manager")

    page.set_viewport_size({"width": 375, "height": 740})
    page.wait_for_timeout(200)  # Chart.js redraws on resize
    narrow = page.evaluate(CHARTS_DRAWN)
    assert all(c["inked"] > 0 and c["width"] <= 375 * 2 for c in narrow), narrow
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shoot(page, "10-phone-dashboard-manager")
