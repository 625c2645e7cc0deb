"""docker-compose.yml and the Dockerfile describe a production system that can actually run.

No Docker engine here: these tests check what can be checked offline, against this
project's code (commands, modules, URLs) and files.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery.app.utils import find_app
from django.core.management import get_commands
from django.urls import resolve
from kombu.utils.imports import symbol_by_name

REPO_DIR = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_DIR / "docker-compose.yml"
EXPECTED_SERVICES = {"postgres", "redis", "migrate", "web", "worker", "beat", "prometheus",
                     "grafana"}  # fmt: skip
LONG_RUNNING_APP_SERVICES = {"web", "worker", "beat"}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|(^|_)KEY$")
# The whole value is one required variable: `${NAME}` or `${NAME:?message}`, no default.
FROM_ENVIRONMENT = re.compile(r"^\$\{[A-Z][A-Z0-9_]*(:?\?[^}]*)?\}$")
URL_PASSWORD = re.compile(r"://[^/:@\s]+:([^@\s]+)@")
REQUIRED_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*):?\?")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def argv(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if "build" in s}


def option(args: list[str], name: str) -> str:
    """The value of `--name value` or `--name=value`."""
    for i, arg in enumerate(args):
        if arg == name:
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} missing from {args}")


def test_every_service_of_the_topology_is_described(services: dict[str, Any]) -> None:
    assert set(services) >= EXPECTED_SERVICES
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    assert set(app_services(services)) == {"migrate", "web", "worker", "beat"}


def test_app_commands_exist_in_this_project(services: dict[str, Any]) -> None:
    checked = set()
    for name, service in app_services(services).items():
        args = argv(service)
        assert args, f"{name} has no command"
        if "manage.py" in args:
            command = args[args.index("manage.py") + 1]
            assert command in get_commands(), f"{name}: no management command {command!r}"
        elif args[0] == "celery":
            _check_celery(name, args)
        elif args[0] == "uvicorn":
            _check_asgi_target(name, args[1])
        else:
            raise AssertionError(f"{name}: unrecognised command {args}")
        checked.add(name)
    assert checked == {"migrate", "web", "worker", "beat"}


def _check_celery(name: str, args: list[str]) -> None:
    app = find_app(option(args, "-A"))  # exactly how the celery CLI resolves -A
    assert app.main == "taskmanage", name
    subcommand = args[args.index(option(args, "-A")) + 1]
    assert subcommand in {"worker", "beat"}, f"{name}: unexpected celery {subcommand}"
    if subcommand == "worker":
        assert set(option(args, "-Q").split(",")) == {"critical", "default", "low"}
    if subcommand == "beat":
        symbol_by_name(option(args, "--scheduler"))


def _check_asgi_target(name: str, target: str) -> None:
    module_name, _, attribute = target.partition(":")
    assert importlib.util.find_spec(module_name) is not None, f"{name}: no module {module_name}"
    assert callable(getattr(importlib.import_module(module_name), attribute)), name


def test_web_serves_with_several_workers_merged_metrics_and_a_graceful_stop(
        services: dict[str, Any]) -> None:
    web = services["web"]
    args = argv(web)
    assert args[:3] == ["python", "manage.py", "serve"]
    assert option(args, "--port") == "8000"
    environment = web["environment"]
    assert environment["WEB_WORKERS"] and environment["WEB_THREADS"]
    # prometheus_client merges per-process metrics only with this directory set.
    assert environment["PROMETHEUS_MULTIPROC_DIR"]
    # Docker's SIGKILL must come after the server's own graceful shutdown has ended.
    grace = int(web["stop_grace_period"].rstrip("s"))
    assert grace > int(environment["WEB_GRACEFUL_SHUTDOWN_SECONDS"])


def test_web_worker_and_beat_share_one_metrics_directory_in_memory(
        compose: dict[str, Any], services: dict[str, Any]) -> None:
    """A transition a worker makes must reach the web's /metrics: every process writes its
    samples to the same directory (taskmanage/multiproc.py), a volume they all mount."""
    mounted = set()
    for name in LONG_RUNNING_APP_SERVICES:
        directory = services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        volume = next(v.split(":")[0] for v in services[name]["volumes"]
                      if v.split(":")[1] == directory)
        mounted.add(volume)
    (volume,) = mounted
    # In memory (tmpfs): empty again once every container using it has stopped.
    assert compose["volumes"][volume]["driver_opts"]["type"] == "tmpfs"


def test_web_healthcheck_probes_a_health_url_the_project_serves(services: dict[str, Any]) -> None:
    probe = " ".join(services["web"]["healthcheck"]["test"])
    match = re.search(r"http://127\.0\.0\.1:8000(/health[\w/]*)", probe)
    assert match, probe
    resolve(match.group(1))  # raises Resolver404 if the URLconf does not serve it
    # The probe's Host header must pass ALLOWED_HOSTS, or Django answers 400.
    assert "127.0.0.1" in services["web"]["environment"]["ALLOWED_HOSTS"].split(",")


def test_app_services_wait_for_their_dependencies(services: dict[str, Any]) -> None:
    for name in LONG_RUNNING_APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert services[name]["restart"] == "unless-stopped", name
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]


def test_app_services_reach_postgres_and_redis_by_service_name(services: dict[str, Any]) -> None:
    for name, service in app_services(services).items():
        env = service["environment"]
        assert env["DEBUG"] == "0", name
        assert "@postgres:5432/" in env["DATABASE_URL"], name
        assert env["REDIS_URL"].startswith("redis://redis:6379/"), name


def test_files_mounted_from_deploy_exist(services: dict[str, Any]) -> None:
    mounted = [
        volume.split(":", 1)[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if isinstance(volume, str) and volume.startswith("./deploy")
    ]
    assert len(mounted) >= 2  # prometheus config and grafana provisioning
    for source in mounted:
        assert (REPO_DIR / source).exists(), source


def test_prometheus_scrapes_the_web_metrics_endpoint() -> None:
    config = yaml.safe_load((REPO_DIR / "deploy" / "prometheus.yml").read_text())
    jobs = config["scrape_configs"]
    web = [job for job in jobs if "web:8000" in job["static_configs"][0]["targets"]]
    assert web and web[0].get("metrics_path", "/metrics") == "/metrics"
    resolve("/metrics")


def test_prometheus_presents_the_metrics_token_the_web_service_expects(
    compose: dict[str, Any],
) -> None:
    config = yaml.safe_load((REPO_DIR / "deploy" / "prometheus.yml").read_text())
    web_job = next(j for j in config["scrape_configs"] if j["job_name"] == "taskmanage-web")
    credentials = web_job["authorization"]["credentials_file"]
    prometheus = compose["services"]["prometheus"]
    # Prometheus writes the file it reads from its own environment, in memory, at start.
    assert Path(credentials).parent.as_posix() in prometheus["tmpfs"]
    start = " ".join(prometheus["entrypoint"])
    assert f'printf %s "$$METRICS_TOKEN" > {credentials}' in start
    assert "exec /bin/prometheus --config.file=/etc/prometheus/prometheus.yml" in start
    web_token = compose["services"]["web"]["environment"]["METRICS_TOKEN"]
    assert prometheus["environment"]["METRICS_TOKEN"] == web_token == \
        "${METRICS_TOKEN:?set METRICS_TOKEN}"


def test_grafana_is_provisioned_with_the_prometheus_datasource() -> None:
    path = REPO_DIR / "deploy/grafana/provisioning/datasources/prometheus.yml"
    datasources = yaml.safe_load(path.read_text())["datasources"]
    # The uid is what the provisioned dashboards refer to.
    assert [(d["uid"], d["type"], d["url"]) for d in datasources] == [
        ("prometheus", "prometheus", "http://prometheus:9090")
    ]


def test_grafana_dashboards_are_provisioned_from_the_mounted_folder(
    services: dict[str, Any],
) -> None:
    host_dir, container_dir = next(
        v.split(":")[:2] for v in services["grafana"]["volumes"] if "provisioning" in v
    )
    providers = yaml.safe_load((REPO_DIR / host_dir / "dashboards" / "taskmanage.yml").read_text())[
        "providers"
    ]
    for provider in providers:
        # The provider names a path inside the container; map it back onto this repository.
        relative = Path(provider["options"]["path"]).relative_to(container_dir)
        dashboards = list((REPO_DIR / host_dir / relative).glob("*.json"))
        assert dashboards, provider
        for path in dashboards:
            panels = json.loads(path.read_text())["panels"]
            assert panels and all(p["datasource"]["uid"] == "prometheus" for p in panels), path


def _environment_values(compose: dict[str, Any]):
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        items = env.items() if isinstance(env, dict) else (e.split("=", 1) for e in env)
        for key, value in items:
            yield name, key, str(value)


def test_no_secret_values_in_the_compose_file(compose: dict[str, Any]) -> None:
    secrets_seen = 0
    for service, key, value in _environment_values(compose):
        if SECRET_NAME.search(key):
            secrets_seen += 1
            assert FROM_ENVIRONMENT.match(value), f"{service}.{key} must come from the environment"
        for password in URL_PASSWORD.findall(value):
            assert FROM_ENVIRONMENT.match(password), f"{service}.{key} embeds a password"
    assert secrets_seen >= 3  # SECRET_KEY, POSTGRES_PASSWORD, GRAFANA_ADMIN_PASSWORD


def test_dockerfile_runs_as_non_root_without_a_baked_in_secret_key() -> None:
    lines = (REPO_DIR / "Dockerfile").read_text().splitlines()
    instructions = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert instructions[0].startswith("FROM python:3.11-slim")
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    for line in instructions:
        assert not re.match(r"(ENV|ARG)\b.*\bSECRET_KEY\b", line), line
    collect = next(line for line in instructions if "collectstatic" in line)
    assert re.search(r"\bSECRET_KEY=\S+ python manage\.py collectstatic", collect)


@pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose is not installed (apt-get install docker-compose to validate)",
)
def test_docker_compose_accepts_the_file() -> None:
    required = set(REQUIRED_VARIABLE.findall(COMPOSE_FILE.read_text()))
    env = {**os.environ, **{name: "placeholder" for name in required}}
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
