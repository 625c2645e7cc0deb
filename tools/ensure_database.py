"""Create the PostgreSQL database DATABASE_URL names, if it does not exist yet.

`make test-pg` runs it first, so the PostgreSQL-only tests (real concurrent connections,
COPY, the served stack) run on a fresh machine with nothing but a server to connect to.
pytest-django then creates its own test_<name> databases beside it.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

import psycopg
from psycopg import sql


def main() -> int:
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        print(f"ensure_database: DATABASE_URL is not a PostgreSQL URL: {url!r}", file=sys.stderr)
        return 2
    name = parts.path.lstrip("/")
    server = parts._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  [name]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(f"ensure_database: created {name}")
    except psycopg.OperationalError as exc:
        print(f"ensure_database: cannot reach PostgreSQL at {parts.hostname}:{parts.port}: "
              f"{exc}".strip(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
