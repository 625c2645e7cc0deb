"""`manage.py schedules list | trigger NAME_OR_ID | backfill NAME_OR_ID --start … --end …`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from apps.core.actors import Actor
from apps.core.exceptions import DomainError

from ... import services
from ...models import Schedule
from ...selectors import schedules_with_last_spawn


def _moment(raw: str, option: str):
    parsed = parse_datetime(raw)
    if parsed is None or parsed.tzinfo is None:
        raise CommandError(f"{option}: an ISO 8601 time with its offset, e.g. "
                           "2026-11-01T00:00:00+00:00")
    return parsed


class Command(BaseCommand):
    help = "List schedules with their next run, trigger one now, or backfill one over a range."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="command", required=True)
        sub.add_parser("list", help="Every schedule, its next run and its last spawn.")
        trigger = sub.add_parser("trigger", help="Spawn a schedule's task now.")
        trigger.add_argument("schedule", help="The schedule's name or id.")
        backfill = sub.add_parser("backfill", help="One task per planned time in a range.")
        backfill.add_argument("schedule", help="The schedule's name or id.")
        backfill.add_argument("--start", required=True)
        backfill.add_argument("--end", required=True)
        backfill.add_argument("--serial", action="store_true",
                              help="Each task depends on the one before.")

    def handle(self, *args, command: str, **options):
        by = Actor.system("manage.py schedules")
        try:
            if command == "list":
                self._list()
            elif command == "trigger":
                spawn = services.schedule_trigger(schedule_id=self._find(options["schedule"]),
                                                  by=by)
                self.stdout.write(f"planned {spawn.planned_time.isoformat()}: "
                                  f"{spawn.task_id or 'nothing, ' + spawn.skipped}")
            else:
                spawns = services.schedule_backfill(
                    schedule_id=self._find(options["schedule"]),
                    start=_moment(options["start"], "--start"),
                    end=_moment(options["end"], "--end"), serial=options["serial"], by=by)
                for spawn in spawns:
                    self.stdout.write(f"planned {spawn.planned_time.isoformat()}: "
                                      f"{spawn.task_id}")
                self.stdout.write(f"{len(spawns)} task(s) spawned.")
        except DomainError as exc:
            raise CommandError(f"{exc} {getattr(exc, 'fields', '') or ''}".strip()) from exc

    def _find(self, ref: str) -> int:
        found = Schedule.objects.filter(name=ref).values_list("pk", flat=True).first()
        if found is None and ref.isdigit():
            found = Schedule.objects.filter(pk=int(ref)).values_list("pk", flat=True).first()
        if found is None:
            raise CommandError(f"No schedule {ref!r}.")
        return found

    def _list(self) -> None:
        schedules = list(schedules_with_last_spawn())
        if not schedules:
            self.stdout.write("No schedules.")
        for schedule in schedules:
            runs = services.next_runs(schedule=schedule, count=1) if schedule.enabled else []
            when = schedule.cron or (f"every {schedule.interval_seconds}s"
                                     if schedule.interval_seconds else
                                     f"delay {schedule.delay_seconds}s"
                                     if schedule.delay_seconds is not None else
                                     f"once {schedule.run_once_at.isoformat()}")
            last = schedule.last_spawned_at.isoformat() if schedule.last_spawned_at else "never"
            nxt = runs[0].isoformat() if runs else "-"
            state = "enabled" if schedule.enabled else "disabled"
            self.stdout.write(f"{schedule.pk}\t{schedule.name}\t{when} {schedule.timezone}\t"
                              f"{state}\tnext {nxt}\tlast spawned {last}")
