"""python manage.py import_staff people.csv [--update]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ...importing import COLUMNS, ImportErrors, import_rows, read_rows


class Command(BaseCommand):
    help = (
        f"Import staff and their skills from a CSV with the columns {','.join(COLUMNS)} "
        "(skills like python:4;sql:3). Missing teams and skills are created; every row is "
        "checked first and nothing is imported if any row is bad. Rows are numbered as in a "
        "spreadsheet (the header is row 1). New users get no usable password: they sign in "
        "after a password reset."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="CSV file (UTF-8)")
        parser.add_argument("--update", action="store_true",
                            help="Update the staff records of users that already exist.")

    def handle(self, *args, path: str, update: bool, **options):
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                rows = read_rows(handle, update=update)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        except (ImportErrors, UnicodeDecodeError, ValueError) as exc:
            raise CommandError(self._report(exc)) from exc
        result = import_rows(rows, update=update)
        self.stdout.write(self.style.SUCCESS(
            f"Imported {len(result.created)} new and updated {len(result.updated)} staff."))

    def _report(self, exc: Exception) -> str:
        errors = exc.errors if isinstance(exc, ImportErrors) else [f"file: {exc}"]
        for line in errors:
            self.stderr.write(line)
        return f"{len(errors)} error(s); nothing imported."
