"""Posting an admin change form as a person would: what the page shows, with some changes."""

from __future__ import annotations


def _values(form) -> dict:
    data = {}
    for name, field in form.fields.items():
        if field.show_hidden_initial:  # the hidden copy a browser posts (callable defaults)
            data[form.add_initial_prefix(name)] = field.prepare_value(form[name].initial)
        value = form[name].value()
        if value is None or value is False:
            continue
        data[form.add_prefix(name)] = "on" if value is True else value
    return data


def form_data(page, **overrides) -> dict:
    """What the admin page would post back unchanged, with `overrides` (by posted name)."""
    data = _values(page.context["adminform"].form)
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(_values(formset.management_form))
        for form in formset.forms:
            data.update(_values(form))
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}
