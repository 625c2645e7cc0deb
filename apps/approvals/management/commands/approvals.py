"""Approval requests from the command line: list the inbox, expire what went stale."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ... import services
from ...selectors import pending_requests


class Command(BaseCommand):
    help = ("`list [--overdue]`: pending approval requests, oldest first. "
            "`expire --older-than-hours N`: withdraw, as the system, requests pending longer.")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="Print pending requests.")
        listing.add_argument("--overdue", action="store_true",
                             help="Only those past their escalation deadline.")
        expire = sub.add_parser("expire", help="Withdraw stale pending requests.")
        expire.add_argument("--older-than-hours", type=float, required=True, dest="hours")

    def handle(self, *args, action: str, **options):
        if action == "list":
            self._list(overdue=options["overdue"])
        else:
            self._expire(hours=options["hours"])

    def _list(self, *, overdue: bool) -> None:
        now = timezone.now()
        count = 0
        for req in pending_requests(overdue=overdue).iterator(chunk_size=500):
            count += 1
            flag = " OVERDUE" if req.overdue_at(now) else ""
            who = req.requester.get_username() if req.requester else "system"
            self.stdout.write(
                f"#{req.pk} {req.kind:<10} task {req.task_id} \"{req.task.title}\" "
                f"by {who}, asked {req.created_at:%Y-%m-%d %H:%M}, "
                f"due {req.due_at:%Y-%m-%d %H:%M}{flag}"
            )
        self.stdout.write(f"{count} pending{' overdue' if overdue else ''}")

    def _expire(self, *, hours: float) -> None:
        if hours < 0:
            raise CommandError("--older-than-hours must not be negative")
        expired = services.approvals_expire(older_than=timedelta(hours=hours))
        self.stdout.write(f"expired: {expired}")
