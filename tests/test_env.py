"""Typed environment readers refuse what they cannot read."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from taskmanage.env import env_float


@pytest.mark.parametrize(("raw", "expected"), [(None, 1.5), ("", 1.5), ("0.25", 0.25), ("2", 2.0)])
def test_env_float_reads_a_number_or_the_default(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("TM_TEST_SECONDS", raising=False)
    else:
        monkeypatch.setenv("TM_TEST_SECONDS", raw)
    assert env_float("TM_TEST_SECONDS", 1.5, minimum=0.1) == expected


@pytest.mark.parametrize("raw", ["soon", "nan", "inf", "0.01"])
def test_env_float_refuses_junk_non_finite_and_too_small(monkeypatch, raw):
    monkeypatch.setenv("TM_TEST_SECONDS", raw)
    with pytest.raises(ImproperlyConfigured, match="TM_TEST_SECONDS"):
        env_float("TM_TEST_SECONDS", 1.5, minimum=0.1)
