"""`make fuzz`: schemathesis over every operation of /api/schema/, as admin, staff and unit.

The harness owns its whole environment so a run never touches the development database:
a throwaway database (a `_fuzz` PostgreSQL database next to DATABASE_URL's, or a SQLite file
under var/fuzz/), demo data, two users and an execution unit with fresh tokens, and a web
server on a free port.
It then runs schemathesis once per token with every check and prints, per role, how many
server errors, schema violations and other failures it found. The exit status is non-zero
when any run found a server error or a schema violation (what CI gates on).

    python tools/fuzz.py [--max-time SECONDS] [--phases examples,coverage,fuzzing,stateful]

Lives outside apps/: it is a development tool, never installed or routed in the product.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUZZ_DIR = ROOT / "var" / "fuzz"
# What counts against the run: a 5xx, or a response the schema does not describe.
GATING_CHECKS = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
}


def main() -> int:
    args = _parse_args()
    env = _fuzz_environment()
    _prepare_database(env)
    tokens = _create_users(env)
    port = _free_port()
    server = _start_server(env, port)
    try:
        _wait_until_up(port)
        # The schema is read once, as the admin: a unit's token may not read it (it is
        # refused everywhere but the unit endpoints), and a run that cannot load the schema
        # tests nothing.
        schema = _save_schema(port, tokens["admin"])
        results = {role: _run_schemathesis(role, token, port, schema, args)
                   for role, token in tokens.items()}
    finally:
        server.terminate()
        server.wait(timeout=15)
    return _print_summary(results)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-time", type=int, default=None,
                        help="time budget per role in seconds (default: until done)")
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--workers", default="2")
    return parser.parse_args()


def _fuzz_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DEBUG", "1")
    env["DJANGO_SETTINGS_MODULE"] = "taskmanage.settings"
    # The fuzzer sends thousands of requests a minute from one client: the throttles would
    # answer most of them 429 and hide everything behind. Login limits stay as configured.
    env["API_THROTTLE_USER"] = "1000000/min"
    env["API_THROTTLE_ANON"] = "1000000/min"
    base = env.get("DATABASE_URL", "")
    if base.startswith(("postgres://", "postgresql://")):
        env["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/taskmanage_fuzz"
    else:
        env["DATABASE_URL"] = f"sqlite:///{FUZZ_DIR / 'db.sqlite3'}"
    return env


def _prepare_database(env: dict[str, str]) -> None:
    url = env["DATABASE_URL"]
    shutil.rmtree(FUZZ_DIR, ignore_errors=True)
    FUZZ_DIR.mkdir(parents=True)
    if not url.startswith("sqlite"):
        server, name = url.rsplit("/", 1)
        admin = server + "/postgres"
        for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
            subprocess.run(["psql", admin, "-qc", sql], check=True)
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "demo_data", "--if-empty")


def _create_users(env: dict[str, str]) -> dict[str, str]:
    """An admin, a staff member of the demo team and an execution unit of the demo's unit
    type, each with a fresh token."""
    script = (
        "import json, secrets\n"
        "from django.contrib.auth import get_user_model\n"
        "from apps.accounts.services import token_issue\n"
        "from apps.core.actors import Actor\n"
        "from apps.execution.services import unit_register\n"
        "User = get_user_model()\n"
        "admin = User.objects.create_superuser('fuzz-admin', 'fuzz-admin@example.com',"
        " secrets.token_urlsafe(16))\n"
        "staff = User.objects.get(username='demo-ann')\n"
        "unit = unit_register(unit_id='fuzz-unit', unit_type='document_processing',"
        " may_rotate=True, by=Actor.system('fuzz'))\n"
        "print(json.dumps({'admin': token_issue(user=admin, name='fuzz')[1],"
        " 'staff': token_issue(user=staff, name='fuzz')[1], 'unit': unit.token}))\n"
    )
    out = _manage(env, "shell", "-c", script, capture=True)
    return json.loads(out.strip().splitlines()[-1])


def _start_server(env: dict[str, str], port: int) -> subprocess.Popen:
    # The server log is kept for reading tracebacks after a run: var/fuzz/server.log.
    with open(FUZZ_DIR / "server.log", "w") as log:
        return subprocess.Popen(
            # The server as deployed (taskmanage/serving.py), one process.
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1", "--no-access-log"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )


def _save_schema(port: int, token: str) -> Path:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/schema/?format=json",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        path = FUZZ_DIR / "schema.json"
        path.write_bytes(response.read())
    return path


def _run_schemathesis(role: str, token: str, port: int, schema: Path, args) -> Counter:
    report_dir = FUZZ_DIR / f"report-{role}"
    shutil.rmtree(report_dir, ignore_errors=True)  # an earlier run's findings are not this one's
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "run", str(schema),
        "--url", f"http://127.0.0.1:{port}",
        "--checks", "all",
        # Revoking the token the run signs in with would turn every later call into a 401.
        "--exclude-path-regex", "auth/revoke",
        "--phases", args.phases,
        "--workers", args.workers,
        "--header", f"Authorization: Bearer {token}",
        "--report", "ndjson", "--report-dir", str(report_dir),
        "--suppress-health-check", "all",
        "--request-timeout", "30",
        "--seed", str(secrets.randbelow(2**31)),
    ]
    if args.max_time:
        command += ["--max-time", str(args.max_time)]
    if args.max_examples:
        command += ["--max-examples", str(args.max_examples)]
    print(f"\n=== schemathesis as {role} ===", flush=True)
    subprocess.run(command, cwd=ROOT)
    return _count_failures(report_dir)


def _count_failures(report_dir: Path) -> Counter:
    """Distinct failures by check, read from schemathesis' ndjson event stream: each finished
    scenario records, per test case, the checks it ran and their outcome. `scenarios` counts
    the scenarios run: none means the run tested nothing (a schema it could not load)."""
    seen: set[tuple[str, str, str]] = set()
    scenarios = 0
    for path in report_dir.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            scenario = json.loads(line).get("ScenarioFinished")
            if scenario is None:
                continue
            scenarios += 1
            for checks in scenario["recorder"].get("checks", {}).values():
                for check in checks:
                    if check["status"] == "failure":
                        failure = check["failure_info"]["failure"]
                        seen.add((check["name"], failure.get("operation", ""),
                                  failure.get("title", "")))
    counts = Counter(name for name, _, _ in seen)
    counts["scenarios"] = scenarios
    return counts


def _print_summary(results: dict[str, Counter]) -> int:
    print("\n=== fuzz summary (distinct failures) ===")
    failed = False
    for role, counts in results.items():
        scenarios = counts.pop("scenarios", 0)
        server_errors = counts.get("not_a_server_error", 0)
        violations = sum(n for name, n in counts.items()
                         if name in GATING_CHECKS - {"not_a_server_error"})
        others = {name: n for name, n in counts.items() if name not in GATING_CHECKS}
        print(f"{role:6} scenarios: {scenarios}  server errors: {server_errors}  "
              f"schema violations: {violations}  "
              f"other findings: {sum(others.values())} {dict(others) or ''}")
        failed |= bool(server_errors or violations or not scenarios)
    return 1 if failed else 0


def _manage(env, *argv: str, capture: bool = False) -> str:
    result = subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, check=True,
                            stdout=subprocess.PIPE if capture else None, text=True)
    return result.stdout or ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"fuzz: the web server did not answer on port {port} in {timeout:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
