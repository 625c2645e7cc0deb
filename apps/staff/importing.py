"""Staff from CSV: every row is checked before anything is written, then all in one go."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from . import services
from .models import Skill, Staff, Team

COLUMNS = ("username", "email", "first_name", "last_name", "team", "capacity", "seniority",
           "rating", "skills")
DEFAULTS = {"capacity": 3, "seniority": 1, "rating": 3}
MAX_LENGTH = {"team": 100, "first_name": 150, "last_name": 150}


class ImportErrors(Exception):
    def __init__(self, errors: list[str]):
        super().__init__(f"{len(errors)} error(s); nothing imported")
        self.errors = errors


@dataclass
class StaffRow:
    line: int
    username: str
    email: str
    first_name: str
    last_name: str
    team: str
    capacity: int
    seniority: int
    rating: int
    skills: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


# --- reading and checking -------------------------------------------------------------------
def read_rows(lines: Iterable[str], *, update: bool) -> list[StaffRow]:
    """Parse and check every row; raise ImportErrors naming each bad row and field."""
    reader = csv.DictReader(lines)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportErrors([f"header: missing columns {', '.join(missing)}"])
    rows, errors = [], []
    for raw in reader:
        # Numbered as a spreadsheet shows them: the header is row 1.
        row, row_errors = _parse(reader.line_num, raw)
        rows.append(row)
        errors += [f"row {reader.line_num}: {e}" for e in row_errors]
    errors += _check_usernames(rows, update=update)
    if errors:
        raise ImportErrors(errors)
    return rows


def _parse(line: int, raw: dict) -> tuple[StaffRow, list[str]]:
    value = {k: (raw.get(k) or "").strip() for k in COLUMNS}
    errors: list[str] = []
    errors += _username_errors(value["username"])
    for name in ("team", "first_name", "last_name"):
        if len(value[name]) > MAX_LENGTH[name]:
            errors.append(f"{name} is longer than {MAX_LENGTH[name]} characters")
    if value["email"]:
        try:
            validate_email(value["email"])
        except ValidationError:
            errors.append(f"email {value['email']!r} is not a valid address")
    numbers = {
        "capacity": _number(value["capacity"], "capacity", 0, 32767, errors),
        "seniority": _number(value["seniority"], "seniority", 1, 5, errors),
        "rating": _number(value["rating"], "rating", 1, 5, errors),
    }
    skills = _skills(value["skills"], errors)
    text = {k: value[k] for k in ("username", "email", "first_name", "last_name", "team")}
    return StaffRow(line=line, skills=skills, **text, **numbers), errors


def _username_errors(username: str) -> list[str]:
    if not username:
        return ["username is required"]
    try:
        for validator in get_user_model()._meta.get_field("username").validators:
            validator(username)
    except ValidationError as exc:
        return [f"username {username!r}: {' '.join(exc.messages)}"]
    return []


def _number(text: str, name: str, low: int, high: int, errors: list[str]) -> int:
    if not text:
        return DEFAULTS[name]
    if not text.isdigit() or not low <= int(text) <= high:
        errors.append(f"{name} must be {low}-{high}" if high < 100
                      else f"{name} must be a whole number from {low}")
        return DEFAULTS[name]
    return int(text)


def _skills(text: str, errors: list[str]) -> list[tuple[str, int]]:
    """`python:4;sql:3` → [("python", 4), ("sql", 3)]."""
    pairs: list[tuple[str, int]] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, _, level = (s.strip() for s in part.partition(":"))
        if not name or len(name) > 100 or not level.isdigit() or not 1 <= int(level) <= 5:
            errors.append(f"skills: {part!r} must be name:level with a level 1-5")
        elif name in dict(pairs):
            errors.append(f"skills: {name!r} is listed twice")
        else:
            pairs.append((name, int(level)))
    return pairs


def _check_usernames(rows: list[StaffRow], *, update: bool) -> list[str]:
    errors, first_seen = [], {}
    for row in rows:
        if row.username in first_seen:
            errors.append(f"row {row.line}: username {row.username!r} repeats row "
                          f"{first_seen[row.username]}")
        first_seen.setdefault(row.username, row.line)
    if not update:
        taken = set(get_user_model().objects.filter(username__in=list(first_seen))
                    .values_list("username", flat=True))
        errors += [f"row {r.line}: username {r.username!r} already exists (use --update)"
                   for r in rows if r.username in taken and first_seen[r.username] == r.line]
    return errors


# --- writing ----------------------------------------------------------------------------------
def import_rows(rows: list[StaffRow], *, update: bool) -> ImportResult:
    result = ImportResult()
    with transaction.atomic():
        teams = _ensure({r.team for r in rows if r.team}, Team, services.team_create)
        skills = _ensure({name for r in rows for name, _ in r.skills}, Skill,
                         services.skill_create)
        users = {u.username: u for u in get_user_model().objects.filter(
            username__in=[r.username for r in rows])}
        for row in rows:
            pairs = [(skills[name], level) for name, level in row.skills]
            team = teams.get(row.team)
            if update and row.username in users:
                _update(users[row.username], row, team, pairs)
                result.updated.append(row.username)
            else:
                _create(row, team, pairs)
                result.created.append(row.username)
    return result


def _ensure(names: set[str], model, create: Callable[..., Any]) -> dict[str, Any]:
    """Look up the named rows, creating the missing ones (teams, skills)."""
    found = {obj.name: obj for obj in model.objects.filter(name__in=names)}
    for name in sorted(names - set(found)):
        found[name] = create(name=name)
    return found


def _create(row: StaffRow, team, pairs) -> None:
    # No password: people sign in after a reset (create_user makes it unusable).
    services.staff_create(
        username=row.username, password=None, email=row.email, team=team,
        capacity=row.capacity, seniority=row.seniority, rating=row.rating, skills=pairs,
        first_name=row.first_name, last_name=row.last_name,
    )


def _update(user, row: StaffRow, team, pairs) -> None:
    user.email, user.first_name, user.last_name = row.email, row.first_name, row.last_name
    user.save(update_fields=["email", "first_name", "last_name"])
    staff, _ = Staff.objects.get_or_create(user=user)
    services.staff_update(staff=staff, team=team, capacity=row.capacity,
                          seniority=row.seniority, rating=row.rating, skills=pairs)
