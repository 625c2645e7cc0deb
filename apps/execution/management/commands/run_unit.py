"""`manage.py run_unit --id worker-001 --type document_processing --capacity 4 --url …`: the
reference execution unit (`taskmanage_client.unit`), started from the project.

The same runner and options as `python -m taskmanage_client.unit`. Given no token and no
registration secret it registers the unit through the service, as only a process beside the
database can (this is how `make run` starts its unit); otherwise it registers over HTTP like
any unit. Either way it then talks to the server only through the API.
"""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandError
from taskmanage_client import Client, TaskManageError
from taskmanage_client.unit.cli import add_arguments, runner_for, serve
from taskmanage_client.unit.runner import connect

from apps.core.actors import Actor
from apps.execution.services import unit_register


class Command(BaseCommand):
    help = "Run the reference execution unit against a TaskManage server."

    def add_arguments(self, parser):
        add_arguments(parser)

    def handle(self, *args, **options):
        logging.getLogger("taskmanage_client.unit").setLevel(options["log_level"].upper())
        logging.getLogger("httpx").setLevel(logging.WARNING)
        try:
            client = self._client(options)
            code = serve(runner_for(client, options))
        except TaskManageError as exc:
            raise CommandError(f"{options['id']}: {exc}") from exc
        if code:
            raise CommandError(f"{options['id']}: stopped: its token is no longer accepted",
                               returncode=code)

    def _client(self, options) -> Client:
        if options["token"] or options["registration_secret"] or options["token_file"]:
            return connect(options["url"], unit_id=options["id"],
                           unit_type=options["unit_type"], capacity=options["capacity"],
                           token=options["token"],
                           registration_secret=options["registration_secret"],
                           token_file=options["token_file"], name=options["name"],
                           labels=options["labels"] or None,
                           heartbeat_timeout=options["heartbeat_timeout"])
        fields = {"name": options["name"]} if options["name"] else {}
        if options["labels"]:
            fields["labels"] = options["labels"]
        if options["heartbeat_timeout"]:
            fields["heartbeat_timeout"] = options["heartbeat_timeout"]
        done = unit_register(unit_id=options["id"], unit_type=options["unit_type"],
                             capacity=options["capacity"], may_rotate=True,
                             by=Actor.system("run_unit"), **fields)
        return Client(options["url"], token=done.token)
