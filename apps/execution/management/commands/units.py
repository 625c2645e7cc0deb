"""`manage.py units list|drain ID|undrain ID|sweep`: execution units from a terminal."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.core.actors import Actor
from apps.core.exceptions import Conflict

from ... import services
from ...models import ExecutionUnit
from ...selectors import units_listed


class Command(BaseCommand):
    help = "List execution units, drain or undrain one, or run the units sweep now."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        listing = sub.add_parser("list", help="every unit, its status, load and last heartbeat")
        listing.add_argument("--type", dest="unit_type")
        listing.add_argument("--status", choices=["online", "draining", "offline"])
        for verb in ("drain", "undrain"):
            sub.add_parser(verb, help=f"{verb} one unit").add_argument("unit_id")
        sub.add_parser("sweep", help="persist heartbeats, fail over silent units, take back "
                                     "expired leases (what beat runs every few seconds)")

    def handle(self, *args, verb: str, **options):
        if verb == "list":
            self._list(options.get("unit_type"), options.get("status"))
        elif verb == "sweep":
            done = services.units_sweep()
            self.stdout.write(", ".join(f"{k}: {v}" for k, v in vars(done).items()))
        else:
            self._change(verb, options["unit_id"])

    def _list(self, unit_type: str | None, status: str | None) -> None:
        units = units_listed()
        if unit_type:
            units = units.filter(unit_type=unit_type)
        if status:
            units = units.filter(status=status)
        for u in units:
            beat = f"{u.last_heartbeat_at:%Y-%m-%d %H:%M:%S}" if u.last_heartbeat_at else "never"
            self.stdout.write(f"{u.unit_id}\t{u.unit_type}\t{u.status}\t{u.held}/{u.capacity}\t"
                              f"last heartbeat {beat}")

    def _change(self, verb: str, unit_id: str) -> None:
        unit = ExecutionUnit.objects.filter(unit_id=unit_id).first()
        if unit is None:
            raise CommandError(f"no unit {unit_id!r}")
        service = services.unit_drain if verb == "drain" else services.unit_undrain
        try:
            unit = service(unit=unit, by=Actor.system("command"), reason="manage.py units")
        except Conflict as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{unit.unit_id}: {unit.status}")
