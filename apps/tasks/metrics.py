"""Prometheus gauges read from PostgreSQL at scrape time.

Counting in the database (not in process memory) keeps the figures exact however many web
and worker processes there are, and after restarts.
"""

from __future__ import annotations

import logging

from prometheus_client.core import GaugeMetricFamily

from apps.core.metrics import register_database_collector

logger = logging.getLogger(__name__)


class TaskStatusCollector:
    name = "taskmanage_tasks"
    documentation = "Tasks by status (from the database)"

    def describe(self):
        # Declared without samples, so registering never touches the database.
        yield GaugeMetricFamily(self.name, self.documentation, labels=["status"])

    def collect(self):
        from .selectors import task_counts_by_status

        family = GaugeMetricFamily(self.name, self.documentation, labels=["status"])
        try:
            counts = task_counts_by_status()
        except Exception:  # a scrape must answer even when the database does not
            logger.warning("task status counts unavailable", exc_info=True)
            return
        for status, count in counts.items():
            family.add_metric([status], count)
        yield family


register_database_collector(TaskStatusCollector())
