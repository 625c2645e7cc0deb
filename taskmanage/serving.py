"""How the web tier is started: one definition for `make run`, docker-compose and the bench.

`manage.py serve` (docker-compose, the Dockerfile), `manage.py run_system` (`make run`) and
the bench harness (`python -m bench`) all start the server from `web_argv`, so the figures the
bench prints are those of the server that is deployed. The design and the measurements behind
it are in taskmanage/asgi.py and the README ("Serving").
"""

from __future__ import annotations

import sys

APPLICATION = "taskmanage.asgi:application"


def web_argv(
    *, host: str, port: int, workers: int, graceful_seconds: int, access_log: bool = True,
    python: str | None = None,
) -> list[str]:
    """The command line of the web server: uvicorn, `workers` processes of taskmanage.asgi."""
    argv = [
        python or sys.executable, "-m", "uvicorn", APPLICATION,
        "--host", host, "--port", str(port), "--workers", str(workers),
        # Neither Django's HTTP side nor Channels uses ASGI lifespan events.
        "--lifespan", "off",
        # SIGTERM: stop accepting, let requests under way finish for this long, then exit.
        "--timeout-graceful-shutdown", str(graceful_seconds),
        # The client address is Django's decision (TRUSTED_PROXIES): uvicorn would otherwise
        # believe X-Forwarded-For from loopback, and a local client could pick its own login
        # rate-limit bucket.
        "--no-proxy-headers",
    ]
    if not access_log:
        argv.append("--no-access-log")
    return argv
