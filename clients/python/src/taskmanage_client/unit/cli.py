"""The reference unit's command line, shared by `python -m taskmanage_client.unit` and
`manage.py run_unit` (which adds registering through the database when given no token)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from typing import Any

from ..client import Client
from ..errors import TaskManageError
from .handlers import UnitSettings, handlers
from .http_handler import ALLOW_PRIVATE_ENV
from .runner import UnitRunner, connect


def add_arguments(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("--id", required=True, help="the unit's id (worker-001)")
    parser.add_argument("--type", required=True, dest="unit_type",
                        help="the unit type it serves (a task type's key)")
    parser.add_argument("--capacity", type=int, default=1, help="tasks run at once (1)")
    parser.add_argument("--url", default=env("TASKMANAGE_URL", "http://127.0.0.1:8000"),
                        help="the server (TASKMANAGE_URL; http://127.0.0.1:8000)")
    parser.add_argument("--token", default=env("TASKMANAGE_UNIT_TOKEN"),
                        help="the unit's token (tmu_…), or an admin's token to register it "
                             "(TASKMANAGE_UNIT_TOKEN)")
    parser.add_argument("--registration-secret", default=env("TASKMANAGE_REGISTRATION_SECRET"),
                        help="the unit type's registration secret "
                             "(TASKMANAGE_REGISTRATION_SECRET)")
    parser.add_argument("--token-file", help="keep the token a registration gave here, and "
                                             "use it on the next start")
    parser.add_argument("--name", help="a display name")
    parser.add_argument("--label", action="append", default=[], dest="labels",
                        help="a label for routing filters (repeatable)")
    parser.add_argument("--import", action="append", default=[], dest="imports",
                        metavar="MODULE", help="a module whose @handler functions to add")
    parser.add_argument("--handler-for", action="append", default=[], metavar="TYPE=NAME",
                        help="run the task type TYPE's tasks with handler NAME (repeatable)")
    parser.add_argument("--heartbeat-every", type=float, default=5.0, help="seconds (5)")
    parser.add_argument("--heartbeat-timeout", type=int,
                        help="seconds of silence after which the server takes the unit for "
                             "offline (set when registering; the server's default otherwise)")
    parser.add_argument("--claim-wait", type=float, default=10.0,
                        help="seconds a claim waits for work (10)")
    parser.add_argument("--grace", type=float, default=30.0,
                        help="seconds running work may take to finish on SIGTERM (30)")
    parser.add_argument("--allow-private-http", action="store_true",
                        default=env(ALLOW_PRIVATE_ENV, "") in ("1", "true", "yes", "on"),
                        help=f"http_request may call private addresses ({ALLOW_PRIVATE_ENV}=1)")
    parser.add_argument("--enable-shell", action="store_true",
                        help="allow the shell handler (off by default)")
    parser.add_argument("--http-max-bytes", type=int, default=UnitSettings.http_max_bytes,
                        help="largest response body http_request keeps")
    parser.add_argument("--log-level", default=env("LOG_LEVEL", "INFO"))


def handler_map(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        task_type, sep, name = pair.partition("=")
        if not sep or not task_type or not name:
            raise SystemExit(f"--handler-for {pair!r}: TYPE=NAME expected")
        mapping[task_type] = name
    return mapping


def runner_for(client: Client, options: dict[str, Any]) -> UnitRunner:
    for module in options["imports"]:
        importlib.import_module(module)  # its @handler functions register
    settings = UnitSettings(allow_private_http=options["allow_private_http"],
                            enable_shell=options["enable_shell"],
                            http_max_bytes=options["http_max_bytes"])
    return UnitRunner(client, unit_id=options["id"], unit_type=options["unit_type"],
                      capacity=options["capacity"], handlers=handlers,
                      handler_for=handler_map(options["handler_for"]), settings=settings,
                      heartbeat_every=options["heartbeat_every"],
                      claim_wait=options["claim_wait"], grace=options["grace"])


CREDENTIAL_LOST = 3


def serve(runner: UnitRunner) -> int:
    """Run until SIGTERM or SIGINT (a second one skips the grace period): 0 when stopped so,
    3 when the server stopped accepting the unit's token."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: runner.stop())
    runner.run()
    return CREDENTIAL_LOST if runner.credential_lost else 0


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskmanage_client.unit",
                                     description="The TaskManage reference execution unit.")
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    configure_logging(options["log_level"])
    try:
        client = connect(options["url"], unit_id=options["id"], unit_type=options["unit_type"],
                         capacity=options["capacity"], token=options["token"],
                         registration_secret=options["registration_secret"],
                         token_file=options["token_file"], name=options["name"],
                         labels=options["labels"] or None,
                         heartbeat_timeout=options["heartbeat_timeout"])
        return serve(runner_for(client, options))
    except TaskManageError as exc:
        logging.getLogger("taskmanage_client.unit").error("%s: %s", options["id"], exc)
        return 2
