"""`make fuzz` reads schemathesis' report right, and fails on what CI must not let through."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("fuzz", ROOT / "tools" / "fuzz.py")
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)


def scenario(*checks: tuple[str, str, str]) -> dict:
    """A finished scenario as schemathesis writes it: (check, status, operation) per case."""
    return {"ScenarioFinished": {"recorder": {"checks": {
        f"case{i}": [{"name": name, "status": status, "failure_info": {
            "failure": {"operation": operation, "title": f"{name} failed"}}}]
        for i, (name, status, operation) in enumerate(checks)
    }}}}


def write_report(folder: Path, *events: dict) -> Path:
    folder.mkdir()
    (folder / "run.ndjson").write_text("\n".join(json.dumps(e) for e in events))
    return folder


def test_the_same_failure_in_many_cases_counts_once_and_passes_are_not_counted(tmp_path):
    report = write_report(
        tmp_path / "r",
        {"Initialize": {"seed": 1}},
        scenario(("not_a_server_error", "failure", "GET /api/v1/tasks"),
                 ("not_a_server_error", "failure", "GET /api/v1/tasks"),
                 ("response_schema_conformance", "success", "GET /api/v1/tasks")),
        scenario(("not_a_server_error", "failure", "POST /api/v1/tasks"),
                 ("positive_data_acceptance", "failure", "POST /api/v1/skills")),
    )
    assert fuzz._count_failures(report) == Counter(
        {"not_a_server_error": 2, "positive_data_acceptance": 1, "scenarios": 2})


def test_a_server_error_or_a_schema_violation_fails_the_run_other_findings_do_not(capsys):
    ran = {"scenarios": 10}
    assert fuzz._print_summary({"admin": Counter({"positive_data_acceptance": 5, **ran})}) == 0
    assert fuzz._print_summary({"admin": Counter({"not_a_server_error": 1, **ran})}) == 1
    assert fuzz._print_summary({"staff": Counter({"response_schema_conformance": 1,
                                                   **ran})}) == 1
    assert "server errors: 1" in capsys.readouterr().out


def test_a_role_that_ran_nothing_fails_the_run(tmp_path, capsys):
    # A run that could not load the schema (a token refused there) writes no scenario: it
    # tested nothing, which must not pass for "no findings".
    report = write_report(tmp_path / "r", {"Initialize": {"seed": 1}})
    counts = fuzz._count_failures(report)
    assert counts == Counter({"scenarios": 0})
    assert fuzz._print_summary({"unit": counts}) == 1
    assert "unit   scenarios: 0" in capsys.readouterr().out
