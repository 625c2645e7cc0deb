"""`bench <area>|all [--seconds N]`: benchmark figures as JSON lines on stdout.

Installed by bench.settings only: run it as `python -m bench …` or `make bench`.

Progress goes to stderr, so stdout stays one JSON object per figure (pipe it into `jq`).
Everything the run starts (a uvicorn server) or creates (bench user, token, tasks) is
stopped or deleted at the end, also on an error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench.harness import (
    SERVINGS,
    BenchContext,
    ServerOptions,
    discover_areas,
    ensure_migrated,
    included_areas,
)


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into SystemExit, so cleanups run as they do for Ctrl-C."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Command(BaseCommand):
    help = "Run benchmark areas and print one JSON line per figure."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("area", help="an area name, or 'all'")
        parser.add_argument("--seconds", type=float, default=3.0,
                            help="measured seconds per figure (after a short warm-up)")
        parser.add_argument("--workers", type=int, default=2, help="web server processes")
        parser.add_argument("--threads", type=int, default=None,
                            help="request threads per process (default: WEB_THREADS)")
        parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
        parser.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"])
        parser.add_argument("--serving", default="deployed", choices=SERVINGS,
                            help="django-asgi: Django's own ASGI handler, the design before "
                                 "taskmanage.asgi, to compare against")

    def handle(self, *args, **options) -> None:
        areas = discover_areas()
        name = options["area"]
        if name != "all" and name not in areas:
            raise CommandError(f"unknown area {name!r}; known: {', '.join(sorted(areas))}")
        if options["seconds"] <= 0:
            raise CommandError("--seconds must be positive")
        if ensure_migrated():
            self._log("applied pending migrations")
        names = (sorted(set(areas) - included_areas()) if name == "all" else [name])
        server_options = ServerOptions(
            workers=options["workers"], loop=options["loop"], http=options["http"],
            serving=options["serving"], threads=options["threads"],
        )
        with _sigterm_raises(), ExitStack() as stack:
            ctx = BenchContext(seconds=options["seconds"], stack=stack,
                               server_options=server_options, log=self._log)
            for area in names:
                self._log(f"area {area}")
                for figure in areas[area](ctx):
                    self.stdout.write(figure.to_json())
                    self.stdout.flush()
            self._log("cleaning up")

    def _log(self, message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)
