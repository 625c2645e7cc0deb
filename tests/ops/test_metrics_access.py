"""/metrics answers only the scraper it is configured for; /health stays public."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-scrape-token"


def scrape(ip: str = "127.0.0.1", **headers) -> int:
    return Client(REMOTE_ADDR=ip).get("/metrics", **headers).status_code


@pytest.fixture
def unconfigured(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    return settings


def test_unconfigured_metrics_are_refused_outside_debug_even_from_loopback(unconfigured):
    unconfigured.DEBUG = False

    assert scrape("127.0.0.1") == 403
    assert scrape("198.51.100.7") == 403


def test_unconfigured_metrics_in_debug_answer_loopback_only(unconfigured):
    unconfigured.DEBUG = True

    assert (scrape("127.0.0.1"), scrape("::1")) == (200, 200)
    assert scrape("198.51.100.7") == 403


def test_metrics_token_lets_the_bearer_in_from_anywhere(unconfigured):
    unconfigured.METRICS_TOKEN = TOKEN

    assert scrape("198.51.100.7", HTTP_AUTHORIZATION=f"Bearer {TOKEN}") == 200
    assert scrape("198.51.100.7", HTTP_AUTHORIZATION="Bearer wrong") == 403
    assert scrape("198.51.100.7") == 403
    assert scrape("127.0.0.1") == 403  # a token configured: loopback alone is not enough


def test_allowed_networks_let_their_addresses_in(unconfigured):
    unconfigured.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "2001:db8::1"]

    assert (scrape("10.1.2.3"), scrape("2001:db8::1")) == (200, 200)
    assert (scrape("11.0.0.1"), scrape("2001:db8::2"), scrape("127.0.0.1")) == (403, 403, 403)


def test_allow_list_judges_the_client_behind_a_trusted_proxy_not_its_header(unconfigured):
    unconfigured.METRICS_ALLOWED_IPS = ["10.0.0.5"]

    # An outsider claiming an allowed address is not believed ...
    assert scrape("198.51.100.7", HTTP_X_FORWARDED_FOR="10.0.0.5") == 403
    # ... unless the peer is a proxy we trust, reporting what it saw.
    unconfigured.TRUSTED_PROXIES = ["192.0.2.1"]
    assert scrape("192.0.2.1", HTTP_X_FORWARDED_FOR="10.0.0.5") == 200
    assert scrape("192.0.2.1", HTTP_X_FORWARDED_FOR="10.0.0.5, 198.51.100.7") == 403


def test_health_stays_public(unconfigured):
    unconfigured.DEBUG = False

    response = Client(REMOTE_ADDR="198.51.100.7").get("/health")

    assert response.status_code in (200, 503)  # answered, whatever the dependencies say
