"""Run the assignment engine and its sweeps on demand (what beat runs every few seconds)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.staff.services import staff_reconcile_load

from ... import services


class Command(BaseCommand):
    help = "Assign queued staff tasks now; with --sweeps also expire, leave, timeout, reconcile."

    def add_arguments(self, parser):
        parser.add_argument("--sweeps", action="store_true")
        parser.add_argument("--limit", type=int, default=1000)

    def handle(self, *args, sweeps: bool, limit: int, **options):
        if sweeps:
            self.stdout.write(f"expired assignments: {services.assignments_expire()}")
            self.stdout.write(f"tasks handed back for leave: {services.leaves_start()}")
            self.stdout.write(f"timed-out tasks requeued: {services.tasks_requeue_timed_out()}")
            self.stdout.write(f"loads corrected: {staff_reconcile_load()}")
        total = unassignable = 0
        while True:
            result = services.assign_queued(limit=min(limit - total, 200))
            total += result.assigned
            unassignable = result.unassignable
            if not result.tasks or result.assigned == 0 or total >= limit:
                break
        self.stdout.write(f"assigned: {total}, left unassignable: {unassignable}")
