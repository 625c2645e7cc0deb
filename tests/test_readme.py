"""The README is the newcomer's map: every setting the code reads is in its table."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Names read from the environment: our typed helpers (taskmanage.env) and os.environ.
READS = re.compile(
    r"""(?:env_\w+|os\.environ\.get|os\.getenv|os\.environ\[)\(?\s*["']([A-Z][A-Z0-9_]+)["']""")
# Set by tools, not by people: pytest-xdist names its workers (the cache key prefix then
# keeps two test processes apart).
NOT_SETTINGS = {"PYTEST_XDIST_WORKER", "DJANGO_SETTINGS_MODULE"}


def settings_read() -> set[str]:
    names: set[str] = set()
    for package in ("taskmanage", "apps"):
        for path in (ROOT / package).rglob("*.py"):
            names.update(READS.findall(path.read_text()))
    return names - NOT_SETTINGS


def test_every_environment_variable_the_product_reads_is_documented():
    readme = (ROOT / "README.md").read_text()
    configuration = readme.split("## Configuration (environment)", 1)[1].split("\n## ", 1)[0]

    undocumented = sorted(n for n in settings_read() if f"`{n}`" not in configuration)

    assert undocumented == []


def test_the_scan_finds_settings_read_every_way():
    found = set(READS.findall('env_int("A_B", 1)\nos.environ.get("CC")\nos.environ["D_1"]\n'
                              'os.getenv("EE")\nenv_bool(\n    "FF", False)'))
    assert found == {"A_B", "CC", "D_1", "EE", "FF"}
