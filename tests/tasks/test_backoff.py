"""Retries wait exponentially, by the type's factor, up to its maximum, less its jitter."""

from __future__ import annotations

import pytest

from tests.builders import api_client, make_task_type

pytestmark = pytest.mark.django_db


def test_each_retry_waits_the_factor_longer_up_to_the_maximum():
    kind = make_task_type(retry_backoff=10, retry_backoff_factor=3, retry_backoff_max=200)

    assert [kind.backoff_for(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 30, 90, 200]


def test_jitter_takes_at_most_its_share_off_each_wait():
    kind = make_task_type(retry_backoff=100, retry_backoff_factor=1, retry_jitter=0.25)

    assert kind.backoff_for(1, draw=0).total_seconds() == 100
    assert kind.backoff_for(1, draw=0.999999).total_seconds() == pytest.approx(75, abs=0.01)
    waits = {kind.backoff_for(1).total_seconds() for _ in range(50)}
    assert len(waits) > 1 and all(75 <= w <= 100 for w in waits)


@pytest.mark.parametrize("field,value", [
    ("retry_backoff_factor", 0.5), ("retry_backoff_factor", 11), ("retry_jitter", -0.1),
    ("retry_jitter", 1.5), ("retry_jitter", "lots"),
])
def test_a_backoff_out_of_range_is_a_400_naming_it(olga, field, value):
    response = api_client(olga).post("/api/v1/task-types",
                                     {"key": "k", "name": "K", field: value})

    assert response.status_code == 400 and field in response.json()
