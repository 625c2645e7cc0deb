"""The API documentation pages work on a machine without internet: every asset is ours."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


@pytest.fixture
def client(client, settings):
    # Tests never run collectstatic; WhiteNoise then serves from the finders, as in DEBUG.
    settings.WHITENOISE_USE_FINDERS = True
    admin = get_user_model().objects.create_superuser("docs-admin", password="x")
    client.force_login(admin)
    return client


@pytest.mark.parametrize("page", ["/api-docs/", "/api-docs/redoc/"])
def test_docs_page_loads_only_assets_the_project_serves(client, page) -> None:
    response = client.get(page)

    assert response.status_code == 200
    html = response.content.decode()
    assert "http://" not in html and "https://" not in html  # no CDN, no web fonts
    assets = ASSET.findall(html)
    assert assets, "the page loads its JavaScript from somewhere"
    for url in assets:
        assert url.startswith("/static/"), url
        served = client.get(url)
        assert served.status_code == 200, url
        assert b"".join(served.streaming_content if served.streaming else [served.content])


def test_swagger_ui_reads_our_schema_and_sends_it_to_no_validator(client) -> None:
    html = client.get("/api-docs/").content.decode()

    assert '"/api/schema/"' in html
    assert '"validatorUrl": null' in html
