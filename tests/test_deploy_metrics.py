"""deploy/: the alert rules and Grafana dashboards speak of metrics /metrics really exposes, and
Prometheus accepts the configuration (promtool, when installed: Debian package `prometheus`).

A renamed metric would otherwise leave an alert silent forever and a panel empty, and nobody
would notice until the incident it was meant for.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.schedules import fencing
from tests.metrics import Metrics

REPO_DIR = Path(__file__).resolve().parent.parent
DEPLOY = REPO_DIR / "deploy"
ALERTS = DEPLOY / "alerts.yml"
DASHBOARDS = sorted((DEPLOY / "grafana" / "provisioning" / "dashboards").glob("*.json"))
# Ours, and django-prometheus's; label values like job="taskmanage-web" have no underscore.
METRIC = re.compile(r"\b((?:taskmanage|django)_[A-Za-z0-9_]+)\b")
REQUIRED_ALERTS = {"TaskQueueBackingUp", "UnitTypeWithoutOnlineUnits", "UnitsWentOffline",
                   "DeadLettersGrowing", "ApprovalsOverdue", "BeatWithoutLeader"}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum",
                                                             "_created"),
            "summary": ("_count", "_sum", "_created"), "gauge": ("",), "untyped": ("",)}
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not installed (apt-get install prometheus); the metric names are "
           "still checked by the tests that always run")


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"]
            for rule in group["rules"]]


def dashboard_exprs(path: Path) -> list[str]:
    return [target["expr"] for panel in json.loads(path.read_text())["panels"]
            for target in panel["targets"]]


@pytest.fixture
def exposed(db, client, settings) -> set[str]:
    """Every sample name /metrics may carry: each family's, with its type's suffixes (a
    labelled counter nobody has counted yet is declared, without samples). A beat leader's
    gauges exist once a beat has led: one has."""
    fencing.fence_raise(token=1, holder="a beat")
    fencing.fence_mark_dispatched(token=1, until=timezone.now())
    text = Metrics(client, settings).now(snapshot=True)
    return {family.name + suffix for family in text_string_to_metric_families(text)
            for suffix in SUFFIXES[family.type]} | {
        family.name for family in text_string_to_metric_families(text)}


def test_every_alert_rule_reads_metrics_our_endpoint_exposes(exposed):
    unknown = {(rule["alert"], name) for rule in rules()
               for name in METRIC.findall(rule["expr"]) if name not in exposed}
    assert unknown == set()


def test_every_dashboard_panel_reads_metrics_our_endpoint_exposes(exposed):
    unknown = {(path.name, name) for path in DASHBOARDS for expr in dashboard_exprs(path)
               for name in METRIC.findall(expr) if name not in exposed}
    assert unknown == set()


def test_the_check_itself_catches_a_renamed_metric(exposed):
    assert "taskmanage_queue_oldest_age_seconds" in exposed
    assert "taskmanage_tasks_failed_total" in exposed and "taskmanage_task_run_seconds_bucket" \
        in exposed
    assert "taskmanage_queue_oldest_age" not in exposed


def test_the_alerts_on_call_needs_are_there_with_a_severity_and_a_summary():
    found = rules()
    assert {rule["alert"] for rule in found} >= REQUIRED_ALERTS
    for rule in found:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_the_operations_dashboard_has_the_panels_on_call_reads():
    dashboard = json.loads((DEPLOY / "grafana/provisioning/dashboards/"
                                     "taskmanage-operations.json").read_text())
    exprs = " ".join(dashboard_exprs(DEPLOY / "grafana/provisioning/dashboards/"
                                              "taskmanage-operations.json"))
    for metric in ("taskmanage_tasks_created_total", "taskmanage_tasks", "taskmanage_queue_depth",
                   "taskmanage_queue_oldest_age_seconds", "taskmanage_task_run_seconds_bucket",
                   "taskmanage_units", "taskmanage_staff_load", "taskmanage_approvals_waiting",
                   "taskmanage_schedule_spawns_total", "taskmanage_beat_leader_changes_total",
                   "taskmanage_callback_attempts_total"):
        assert re.search(rf"\b{metric}\b", exprs), metric
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["type"] and panel["title"] and set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert all(t["refId"] and t["expr"] for t in panel["targets"]), panel["title"]


def test_prometheus_loads_the_rules_docker_compose_mounts():
    compose = yaml.safe_load((REPO_DIR / "docker-compose.yml").read_text())
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    mounts = dict(reversed(v.split(":")[:2]) for v in compose["services"]["prometheus"]["volumes"]
                  if v.startswith("./"))
    for rule_file in config["rule_files"]:
        assert (REPO_DIR / mounts[rule_file]).resolve() == ALERTS


@needs_promtool
def test_promtool_accepts_the_rules_and_their_unit_tests():
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        result = subprocess.run(["promtool", *args], cwd=DEPLOY, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_accepts_the_config_with_the_compose_mounts_in_place(tmp_path):
    """The config names container paths (the mounted rules, the token secret): mapped here
    onto this repository and a stand-in token, as docker-compose maps them."""
    text = (DEPLOY / "prometheus.yml").read_text()
    token = tmp_path / "metrics_token"
    token.write_text("stand-in")
    text = text.replace("/etc/prometheus/alerts.yml", str(ALERTS))
    text = text.replace("/run/secrets/metrics_token", str(token))
    config = tmp_path / "prometheus.yml"
    config.write_text(text)

    result = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
