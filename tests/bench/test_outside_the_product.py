"""The benchmark harness sits beside the product: the product neither installs, routes nor
ships it, and bench.settings adds exactly the harness on top of the product."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client
from django.urls import Resolver404, resolve
from setuptools import find_namespace_packages

from apps.accounts.services import token_issue
from apps.tasks.models import Task, TaskHistory
from apps.tasks.states import TaskStatus
from bench.harness import discover_areas
from tests.builders import make_task_type, make_user

REPO_DIR = Path(__file__).resolve().parents[2]


def test_the_product_neither_installs_nor_routes_the_harness():
    assert not apps.is_installed("bench")
    with pytest.raises(Resolver404):
        resolve("/bench/minimal")


def test_the_product_wheel_ships_no_harness_tests_or_tools():
    find = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]
    # setuptools discovers namespace packages too (its default): every directory counts.
    shipped = set(find_namespace_packages(REPO_DIR, include=find["include"],
                                          exclude=find.get("exclude", ())))
    assert {"apps", "apps.tasks", "taskmanage"} <= shipped
    assert not {name for name in shipped if name.split(".")[0] in ("bench", "tests", "tools")}


def test_bench_settings_are_the_products_plus_the_harness():
    # Imported, not activated: the running settings stay the product's.
    import bench.settings as bench_settings

    assert [*settings.INSTALLED_APPS, "bench"] == bench_settings.INSTALLED_APPS
    assert bench_settings.ROOT_URLCONF == "bench.urls"
    assert bench_settings.DATABASES == settings.DATABASES


@pytest.mark.django_db
def test_bench_urls_serve_the_baselines_beside_every_product_route(settings):
    settings.ROOT_URLCONF = "bench.urls"
    assert resolve("/bench/minimal").url_name == "bench-minimal"
    assert resolve("/api/v1/tasks").url_name == resolve("/api/v1/tasks",
                                                         "taskmanage.urls").url_name
    assert resolve("/health").url_name == "health"

    response = Client().get("/bench/minimal")
    assert response.status_code == 200 and response.json() == {"ok": True}


@pytest.mark.django_db
def test_bare_create_writes_the_task_and_its_history_as_the_api_does(settings):
    settings.ROOT_URLCONF = "bench.urls"
    user = make_user("bench-bare")
    make_task_type("bench-bare-type")
    _, raw = token_issue(user=user, name="bench")

    response = Client().post(
        "/bench/bare-create", json.dumps({"title": "t", "task_type": "bench-bare-type"}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 201, response.content
    task = Task.objects.get(pk=response.json()["id"])
    assert (task.status, task.created_by) == (TaskStatus.QUEUED, user)
    assert list(TaskHistory.objects.filter(task=task).values_list("transition", "to_status")) \
        == [("create", TaskStatus.QUEUED)]
    refused = Client().post("/bench/bare-create", "{}", content_type="application/json")
    assert refused.status_code == 401


def test_python_m_bench_runs_the_command_with_its_own_settings():
    # An unknown area fails before anything is started or written, after the command has
    # been found (bench.settings installs it) and the areas discovered.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "taskmanage.settings"}
    result = subprocess.run([sys.executable, "-m", "bench", "no-such-area"], cwd=REPO_DIR,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    areas = discover_areas()
    assert {"assignment", "peers", "tasks"} <= set(areas)
    known = ", ".join(sorted(areas))
    assert f"unknown area 'no-such-area'; known: {known}" in result.stderr, \
        result.stderr
