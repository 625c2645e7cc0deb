"""update_rows writes each object's own values, whatever their mix of NULLs and types."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.core import db
from apps.staff.models import Staff
from tests.builders import make_staff

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("chunk", [1000, 2])
def test_each_row_gets_its_own_values_even_a_column_null_everywhere(monkeypatch, chunk):
    monkeypatch.setattr(db, "UPDATE_CHUNK", chunk)  # several statements as well as one
    people = [make_staff(f"p{i}") for i in range(5)]
    untouched = make_staff("untouched")
    Staff.objects.update(last_assigned_at=timezone.now())
    for i, person in enumerate(people):
        person.load, person.last_assigned_at = i + 1, None

    db.update_rows(Staff, ["load", "last_assigned_at"], people)

    got = dict(Staff.objects.values_list("pk", "load"))
    assert [got[p.pk] for p in people] == [1, 2, 3, 4, 5]
    assert got[untouched.pk] == 0
    assert not Staff.objects.filter(pk__in=[p.pk for p in people],
                                    last_assigned_at__isnull=False).exists()
    db.update_rows(Staff, ["load"], [])  # nothing to write is no statement, not an error
