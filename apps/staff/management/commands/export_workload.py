"""python manage.py export_workload [--format csv|json]"""

from __future__ import annotations

import csv
import json

from django.core.management.base import BaseCommand

from ...selectors import staff_workload

FIELDS = ("username", "name", "team", "load", "capacity", "free_capacity", "open_tasks",
          "availability")


class Command(BaseCommand):
    help = "Print each staff member's load, capacity and open tasks (CSV or JSON)."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["csv", "json"], default="csv")

    def handle(self, *args, format: str, **options):
        rows = staff_workload()  # one query, counts included
        if format == "json":
            self.stdout.write(json.dumps(rows, indent=2))
            return
        writer = csv.DictWriter(self.stdout, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
