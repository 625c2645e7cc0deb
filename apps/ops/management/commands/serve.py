"""`manage.py serve`: the web tier (HTTP and WebSockets on one port), as deployed.

It replaces itself with the server process (exec), so a process manager's SIGTERM reaches
the server directly and the graceful shutdown in taskmanage/serving.py applies.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from taskmanage.serving import web_argv


class Command(BaseCommand):
    help = "Serve HTTP and WebSockets (uvicorn, taskmanage.asgi) with the configured workers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--workers", type=int, default=settings.WEB_WORKERS,
                            help="server processes (WEB_WORKERS)")
        parser.add_argument("--no-access-log", action="store_true",
                            help="do not log a line per request")

    def handle(self, *args, **options) -> None:
        argv = web_argv(
            host=options["host"], port=options["port"], workers=options["workers"],
            graceful_seconds=settings.WEB_GRACEFUL_SHUTDOWN_SECONDS,
            access_log=not options["no_access_log"],
        )
        os.execv(argv[0], argv)
