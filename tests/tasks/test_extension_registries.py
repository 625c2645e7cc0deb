"""The extension registries: one app per contributed name, a repeated registration replaces."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.tasks import extensions
from apps.tasks.extensions import TaskCreateField, TaskDetailField


def _create_field(app: str, name: str) -> TaskCreateField:
    return TaskCreateField(app=app, name=name, field=lambda: None, write=lambda *a, **k: None,
                           read=lambda task: None, schema_field=lambda: None)


def _detail_field(app: str, name: str) -> TaskDetailField:
    return TaskDetailField(app=app, name=name, load=lambda *a, **k: None,
                           read=lambda task: None, schema_field=lambda: None)


@pytest.mark.parametrize(("registry", "contribute", "make"), [
    ("_task_create", extensions.contribute_task_create_field, _create_field),
    ("_task_detail", extensions.contribute_task_detail_field, _detail_field),
])
def test_two_apps_cannot_contribute_one_name_and_an_app_may_register_again(
        monkeypatch, registry, contribute, make):
    monkeypatch.setattr(extensions, registry, {})

    contribute(make("first", "colour"))
    contribute(make("first", "colour"))  # ready() twice: replaced, not refused
    with pytest.raises(ImproperlyConfigured, match="second contributes .*'colour'.*first"):
        contribute(make("second", "colour"))

    assert list(getattr(extensions, registry)) == ["first"]
