"""Benchmark area `dashboard`: the pages on 1,000,000 tasks in PostgreSQL.

The rows are the stats area's (`bench.areas.stats.build`: one INSERT … SELECT over
generate_series, then VACUUM ANALYZE; marked `bench-stats`, deleted at the end unless
BENCH_STATS_KEEP=1 keeps them for the next run of either area). Each page is requested
through Django's whole stack in this process (session, middleware, view, template; no
network) CALLS times, signed in as a member of the `managers` group (the admin's changelist
as the bench superuser), and reported per page:

- pages.<page>.p95_ms, target below 200 ms, beside the stock admin changelist of tasks on the
  same rows (`admin.changelist`, its p95 in the same run); `extra` holds p50 and the queries
  per request at page sizes 25 and 100, which must be equal.
  Pages: `dashboard` as served (its system figures taken by a beat task every
  DASHBOARD_FIGURES_SECONDS, here once before the run), `dashboard_computed` (the shared
  figures dropped before every request: what a view costs when it finds none, and about
  what the beat task costs), `tasks_first` (/tasks/), `tasks_filtered`
  (/tasks/?status=failed&priority=high), `tasks_deep` (an `Older →` page half-way down the
  table, 15 days back), and the operators' `staff`, `units`, `schedules`, `workflows` and
  `dead_letters`, and `workflow_graph`: one workflow's page with its 1,000-step graph laid
  out and drawn as SVG on the server (the workflows area's graph; 1,800 edges).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Iterator
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.accounts.roles import MANAGERS_GROUP
from apps.dashboard.pagination import encode_cursor
from apps.dashboard.selectors import forget_system_figures, refresh_system_figures
from apps.stats.selectors import refresh_ended_counts
from apps.tasks.models import Task
from bench.areas import stats as stats_area
from bench.areas import workflows as workflows_area
from bench.harness import BenchContext, Figure

AREA = "dashboard"
CALLS = int(os.environ.get("BENCH_DASHBOARD_CALLS", "40"))
# The admin's changelist counts the table on every view (two COUNT(*)s): fewer calls.
ADMIN_CALLS = max(CALLS // 4, 5)
TARGET_MS = 200.0
PAGE_SIZES = (25, 100)


def run(ctx: BenchContext) -> Iterator[Figure]:
    if connection.vendor != "postgresql":
        ctx.log("dashboard: PostgreSQL only (1,000,000 rows); skipped")
        return
    if os.environ.get("BENCH_STATS_KEEP") != "1":
        ctx.on_cleanup(stats_area.cleanup)
    admin = stats_area.build(ctx)
    manager = _manager()
    as_manager, as_admin = _client(manager), _client(admin)
    # The ended counts are the sweep's (every STATS_SNAPSHOT_SECONDS in beat), never a page's.
    refresh_ended_counts()

    ctx.log("dashboard: the stock admin changelist, for comparison")
    admin_path = "/admin/tasks/task/"
    _check(as_admin, admin_path)
    admin_times = stats_area.timed(lambda: as_admin.get(admin_path), calls=ADMIN_CALLS)
    _, admin_queries = stats_area.counting_queries(lambda: as_admin.get(admin_path))
    baseline = stats_area.p95(admin_times)
    yield Figure(name="pages.admin_changelist.p95_ms", value=baseline, unit="ms",
                 target_note=f"{stats_area.ROWS:,} tasks; the baseline of the pages below",
                 extra={"p50_ms": round(statistics.median(admin_times), 1),
                        "queries": admin_queries, "calls": ADMIN_CALLS})

    pages: list[tuple[str, str, Callable[[], object] | None]] = [
        ("dashboard", "/dashboard/", None),
        ("dashboard_computed", "/dashboard/", forget_system_figures),
        ("tasks_first", "/tasks/", None),
        ("tasks_filtered", "/tasks/?status=failed&priority=high", None),
        ("tasks_deep", f"/tasks/?after={_cursor_half_way()}", None),
        # The operators' pages, on the same rows: their own tables are small, but each reads
        # the task table for its figures (staff: the day's ended work per person; dead
        # letters: the newest of ~30,000 failed tasks).
        ("staff", "/staff/", None),
        ("units", "/units/", None),
        ("schedules", "/schedules/", None),
        ("workflows", "/workflows/", None),
        ("dead_letters", "/dead-letters/", None),
        ("workflow_graph", f"/workflows/{workflows_area.graph_for_pages(ctx).pk}/", None),
    ]
    refresh_system_figures()  # as beat would have: a page view reads them
    for name, path, before_each in pages:
        ctx.log(f"dashboard: {name} {path}")
        sized = _with_sizes(path) if path.startswith("/tasks/") else {None: path}
        queries = {}
        for size, sized_path in sized.items():
            if before_each:
                before_each()
            _check(as_manager, sized_path)
            if before_each:
                before_each()
            _, queries[f"queries_at_{size}" if size else "queries"] = (
                stats_area.counting_queries(lambda p=sized_path: as_manager.get(p)))

        def call(p=path, prepare=before_each):
            if prepare:
                prepare()
            as_manager.get(p)

        times = stats_area.timed(call, calls=CALLS)
        yield Figure(
            name=f"pages.{name}.p95_ms", value=stats_area.p95(times), unit="ms",
            baseline_name="pages.admin_changelist.p95_ms", baseline_value=baseline,
            max_value=TARGET_MS, target_note=f"{stats_area.ROWS:,} tasks",
            extra={"p50_ms": round(statistics.median(times), 1), **queries,
                   "calls": CALLS})


def _manager():
    """A member of the `managers` group: sees every task and the system figures."""
    user, _ = get_user_model().objects.get_or_create(username=f"{stats_area.PREFIX}-manager")
    user.groups.add(Group.objects.get_or_create(name=MANAGERS_GROUP)[0])
    return user


def _client(user) -> Client:
    client = Client(SERVER_NAME="localhost")  # an allowed host
    client.force_login(user)
    return client


def _check(client: Client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code, answer.content[:300])


def _with_sizes(path: str) -> dict[int, str]:
    joiner = "&" if "?" in path else "?"
    return {size: f"{path}{joiner}page_size={size}" for size in PAGE_SIZES}


def _cursor_half_way() -> str:
    """The link `Older →` would carry half-way down the table (the rows span 30 days)."""
    row = (Task.objects.filter(created_at__lte=timezone.now() - timedelta(days=15))
           .order_by("-created_at", "-pk").values("created_at", "pk").first())
    return encode_cursor(row["created_at"], row["pk"])
