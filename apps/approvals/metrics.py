"""Prometheus gauges for approvals, read from PostgreSQL at scrape time (exact, any process)."""

from __future__ import annotations

import logging

from prometheus_client.core import GaugeMetricFamily

from apps.core.metrics import register_database_collector

logger = logging.getLogger(__name__)


class ApprovalCollector:
    name = "taskmanage_approvals_waiting"
    documentation = "Pending approval requests by kind; state=overdue counts those past due"

    def describe(self):
        # Declared without samples, so registering never touches the database.
        yield GaugeMetricFamily(self.name, self.documentation, labels=["kind", "state"])

    def collect(self):
        from .selectors import approval_counts

        family = GaugeMetricFamily(self.name, self.documentation, labels=["kind", "state"])
        try:
            counts = approval_counts()
        except Exception:  # a scrape must answer even when the database does not
            logger.warning("approval counts unavailable", exc_info=True)
            return
        for key, count in sorted(counts.items()):
            state, kind = key.split("_", 1)
            family.add_metric([kind, state], count)
        yield family


register_database_collector(ApprovalCollector())
