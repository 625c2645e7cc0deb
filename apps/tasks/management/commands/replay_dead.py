"""`manage.py replay_dead [--type KEY] [--since ISO]`: retry the tasks that failed for good."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from apps.core.actors import Actor

from ... import services


class Command(BaseCommand):
    help = "Replay dead letters: every failed task (of a type, since a time) back to the queue."

    def add_arguments(self, parser):
        parser.add_argument("--type", dest="task_type", help="only tasks of this type key")
        parser.add_argument("--since", help="only tasks that failed at or after this time "
                                            "(ISO 8601, e.g. 2026-12-01T08:00:00Z)")
        parser.add_argument("--limit", type=int, default=1000)

    def handle(self, *args, task_type: str | None, since: str | None, limit: int, **options):
        moment = None
        if since is not None:
            moment = parse_datetime(since)
            if moment is None or moment.tzinfo is None:
                raise CommandError(f"--since {since!r}: give an ISO 8601 time with its zone")
        replayed = services.tasks_replay_dead(by=Actor.system("replay_dead"),
                                              task_type_key=task_type, since=moment,
                                              limit=limit)
        self.stdout.write(f"replayed: {replayed}")
