"""import_staff and export_workload."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.staff.models import Skill, Staff, Team
from apps.tasks.states import TaskStatus
from tests.builders import make_staff, make_task_type, task_in_state

S = TaskStatus
User = get_user_model()
pytestmark = pytest.mark.django_db

HEADER = "username,email,first_name,last_name,team,capacity,seniority,rating,skills\n"


@pytest.fixture
def csv_file(tmp_path):
    def write(*rows: str, header: str = HEADER):
        path = tmp_path / "people.csv"
        path.write_text(header + "".join(f"{r}\n" for r in rows), encoding="utf-8")
        return str(path)
    return write


def run_import(path: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_staff", path, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing_import(path: str, *args: str) -> tuple[str, str]:
    err = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("import_staff", path, *args, stdout=io.StringIO(), stderr=err)
    return str(exc.value), err.getvalue()


class TestImport:
    def test_imports_people_and_creates_their_teams_and_skills(self, csv_file):
        path = csv_file(
            "alice,alice@example.com,Alice,Smith,platform,4,3,5,python:4;sql:3",
            "bob,,Bob,,support,,,,sql:5",
        )
        out, _ = run_import(path)
        assert "Imported 2 new" in out
        alice = Staff.objects.select_related("user", "team").get(user__username="alice")
        assert (alice.team.name, alice.capacity, alice.seniority, alice.rating) == (
            "platform", 4, 3, 5)
        assert alice.user.get_full_name() == "Alice Smith"
        assert dict(alice.staff_skills.values_list("skill__name", "level")) == {
            "python": 4, "sql": 3}
        bob = Staff.objects.get(user__username="bob")
        assert (bob.capacity, bob.seniority, bob.rating) == (3, 1, 3)  # the defaults
        assert set(Team.objects.values_list("name", flat=True)) == {"platform", "support"}
        assert set(Skill.objects.values_list("name", flat=True)) == {"python", "sql"}

    def test_imported_people_sign_in_only_after_a_reset(self, csv_file):
        run_import(csv_file("alice,,,,,,,,"))
        assert not User.objects.get(username="alice").has_usable_password()

    def test_a_bad_row_imports_nothing_and_names_row_and_field(self, csv_file):
        path = csv_file(
            "alice,alice@example.com,Alice,,platform,3,3,3,python:4",
            "bob,bob@example.com,Bob,,platform,3,9,3,python:4",
        )
        message, err = run_failing_import(path)
        assert "row 3: seniority must be 1-5" in err
        assert "nothing imported" in message
        assert not User.objects.exists() and not Team.objects.exists()
        assert not Skill.objects.exists()

    @pytest.mark.parametrize("row,error", [
        (",,,,,,,,", "row 2: username is required"),
        ("bad name!,,,,,,,,", "row 2: username 'bad name!'"),
        ("carol,not-mail,,,,,,,", "row 2: email 'not-mail' is not a valid address"),
        ("carol,,,,,-1,,,", "row 2: capacity must be a whole number from 0"),
        ("carol,,,,,,,0,", "row 2: rating must be 1-5"),
        ("carol,,,,,,,,python:6", "row 2: skills: 'python:6' must be name:level"),
        ("carol,,,,,,,,python", "row 2: skills: 'python' must be name:level"),
        ("carol,,,,,,,,python:2;python:3", "row 2: skills: 'python' is listed twice"),
        ("carol,,,," + "t" * 101 + ",,,,", "row 2: team is longer than 100"),
    ])
    def test_each_kind_of_bad_value_is_reported(self, csv_file, row, error):
        _, err = run_failing_import(csv_file(row))
        assert error in err
        assert not User.objects.exists()

    def test_every_bad_row_is_reported_at_once(self, csv_file):
        _, err = run_failing_import(csv_file("a,,,,,x,,,", "b,,,,,,7,,", "a,,,,,,,,"))
        lines = err.strip().splitlines()
        assert lines == ["row 2: capacity must be a whole number from 0",
                         "row 3: seniority must be 1-5", "row 4: username 'a' repeats row 2"]

    def test_an_existing_user_needs_update(self, csv_file, alice):
        _, err = run_failing_import(csv_file("alice,,,,,5,,,"))
        assert "row 2: username 'alice' already exists (use --update)" in err

    def test_update_changes_existing_staff_and_adds_new_people(self, csv_file, alice):
        task_in_state(S.ASSIGNED, creator=alice, assignee=alice)  # her load: 1
        alice = alice.staff
        out, _ = run_import(csv_file("alice,a@example.com,Alice,S,platform,5,4,4,python:3",
                                     "bob,,,,,,,,"), "--update")
        assert "Imported 1 new and updated 1" in out
        alice.refresh_from_db()
        assert (alice.capacity, alice.seniority, alice.team.name, alice.load) == (
            5, 4, "platform", 1)
        assert list(alice.staff_skills.values_list("skill__name", flat=True)) == ["python"]
        assert alice.user.has_usable_password()  # their password is left alone

    def test_a_user_without_a_staff_record_gets_one_on_update(self, csv_file):
        User.objects.create_user("dora")
        run_import(csv_file("dora,,,,,2,,,"), "--update")
        assert Staff.objects.get(user__username="dora").capacity == 2

    def test_missing_columns_and_missing_files_are_clear_errors(self, csv_file, tmp_path):
        _, err = run_failing_import(csv_file("alice", header="username\n"))
        assert "header: missing columns email" in err
        message, _ = run_failing_import(str(tmp_path / "nope.csv"))
        assert "cannot read" in message


class TestExport:
    @pytest.fixture
    def people(self, alice):
        noel = make_staff("noel", capacity=2)  # in no team, holding nothing
        kind = make_task_type()
        for status in (S.RUNNING, S.ASSIGNED):  # alice's load: 2
            task_in_state(status, creator=noel.user, assignee=alice, task_type=kind)
        task_in_state(S.COMPLETED, creator=noel.user, assignee=alice, task_type=kind)
        return alice, noel

    def test_csv_lists_each_person_with_counts(self, people):
        out = io.StringIO()
        call_command("export_workload", stdout=out)
        rows = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert [(r["username"], r["team"], r["load"], r["capacity"], r["free_capacity"],
                 r["open_tasks"], r["availability"]) for r in rows] == [
            ("alice", "platform", "2", "3", "1", "2", "active"),
            ("noel", "", "0", "2", "2", "0", "active"),
        ]

    def test_json_has_the_same_rows(self, people):
        out = io.StringIO()
        call_command("export_workload", "--format", "json", stdout=out)
        rows = json.loads(out.getvalue())
        assert rows[0] == {"username": "alice", "name": "alice", "team": "platform", "load": 2,
                           "capacity": 3, "free_capacity": 1, "open_tasks": 2,
                           "availability": "active"}

    def test_one_query_for_everyone(self, people):
        with CaptureQueriesContext(connection) as ctx:
            call_command("export_workload", stdout=io.StringIO())
        assert len(ctx.captured_queries) == 1
