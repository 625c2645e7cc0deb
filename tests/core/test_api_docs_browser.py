"""Swagger UI and ReDoc render in a real browser that can reach nothing but this server.

Needs a Chromium binary (`apt-get install chromium`); skipped where there is none.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser",
                                                 "google-chrome") if shutil.which(name)), None)
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]


def rendered_dom(url: str) -> str:
    """The page's DOM once its scripts ran, with every host but the test server unreachable."""
    host = re.match(r"https?://([^:/]+)", url).group(1)
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {host}",
         "--virtual-time-budget=20000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


def test_swagger_ui_renders_the_operations_with_no_network(live_server) -> None:
    dom = rendered_dom(f"{live_server.url}/api-docs/")

    paths = set(re.findall(r'data-path="([^"]+)"', dom))
    assert {"/api/v1/tasks", "/api/v1/staff", "/api/v1/auth/token"} <= paths, sorted(paths)


def test_redoc_renders_the_operations_with_no_network(live_server) -> None:
    dom = rendered_dom(f"{live_server.url}/api-docs/redoc/")

    assert "/api/v1/tasks/{id}/cancel" in dom and "TaskManage API" in dom
