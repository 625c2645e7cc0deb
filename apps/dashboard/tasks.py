"""Celery tasks: thin."""

from __future__ import annotations

import logging

from celery import shared_task

from . import selectors

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def refresh_dashboard_figures() -> None:
    # A dozen queries over the task table for every dashboard viewer at once, every
    # DASHBOARD_FIGURES_SECONDS in beat, instead of on a page view.
    figures = selectors.refresh_system_figures()
    logger.debug("dashboard figures as of %s", figures.overview.as_of.isoformat())
