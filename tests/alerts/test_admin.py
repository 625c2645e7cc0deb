"""Rules are edited in the admin by operators; what was sent is a read-only record."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.alerts.models import Alert, AlertRule

from .conftest import make_rule

pytestmark = pytest.mark.django_db


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_operator_adds_a_rule_and_a_bad_one_is_named(olga):
    client = admin_client(olga)
    form = {"name": "billing down", "kind": "task_failed", "is_active": "on",
            "quiet_period_seconds": "600", "email_to": "oncall@example.com", "webhook_url": ""}

    assert client.post("/admin/alerts/alertrule/add/", form).status_code == 302
    rule = AlertRule.objects.get(name="billing down")
    assert rule.webhook_secret  # made for the rule, shown read-only

    bad = client.post("/admin/alerts/alertrule/add/",
                      {**form, "name": "bad", "webhook_url": "http://169.254.169.254/"})
    assert bad.status_code == 200
    assert "not a public address" in bad.content.decode()
    assert not AlertRule.objects.filter(name="bad").exists()


def test_the_record_of_alerts_is_read_only(olga):
    rule = make_rule("sla_breach")
    Alert.objects.create(rule=rule, rule_name=rule.name, kind=rule.kind, subject="s",
                         summary="late", email_status="sent", webhook_status="none")
    client = admin_client(olga)

    assert client.get("/admin/alerts/alert/").status_code == 200
    assert client.get("/admin/alerts/alert/add/").status_code == 403
    alert = Alert.objects.get()
    assert client.post(f"/admin/alerts/alert/{alert.pk}/delete/",
                       {"post": "yes"}).status_code == 403
    assert Alert.objects.exists()


@pytest.mark.parametrize("path", ["/admin/alerts/alertrule/", "/admin/alerts/alert/"])
def test_who_is_not_an_operator_does_not_get_in(path, mallory, margaret):
    for user in (mallory, margaret):
        resp = admin_client(user).get(path)
        assert resp.status_code == 302 and "/admin/login/" in resp["Location"]
