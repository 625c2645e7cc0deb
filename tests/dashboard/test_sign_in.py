"""Sign-in, sign-out, the way in to every page, and the layout every page shares."""

from __future__ import annotations

import ipaddress
import secrets
import uuid

import pytest
from django.test import Client

from .conftest import signed_in

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
PAGES = ["/dashboard/", "/tasks/", "/my/tasks/", "/approvals/",
         "/tasks/4b1c2b9e-0000-4000-8000-000000000001/"]


def client_from_anywhere(**kwargs) -> Client:
    # Login counters are per client and live in a shared Redis: each test its own address.
    network = (0x20010DB8 << 96) | (secrets.randbits(32) << 64)
    return Client(REMOTE_ADDR=str(ipaddress.IPv6Address(network | secrets.randbits(64))),
                  **kwargs)


@pytest.fixture
def account(django_user_model):
    # A name of its own: the per-username login counters start at 0 whatever ran before.
    return django_user_model.objects.create_user(username=f"ann-{uuid.uuid4().hex[:12]}",
                                                 password=PASSWORD)


def test_the_root_leads_to_the_dashboard():
    response = Client().get("/")

    assert response.status_code == 302 and response["Location"] == "/dashboard/"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_a_stranger_to_sign_in(path):
    response = Client().get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


def test_signing_in_opens_the_page_asked_for(account):
    client = client_from_anywhere()

    response = client.post("/login/", {"username": account.username, "password": PASSWORD,
                                       "next": "/tasks/"})

    assert response.status_code == 302 and response["Location"] == "/tasks/"
    assert client.get("/tasks/").status_code == 200


def test_a_wrong_password_says_so_on_the_form(account):
    response = client_from_anywhere().post("/login/", {"username": account.username,
                                                       "password": "nope"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_sign_in_shares_the_login_limit_with_the_api(settings, account):
    settings.LOGIN_RATE_PER_CLIENT = 2
    client = client_from_anywhere()
    for n in range(2):
        client.post("/login/", {"username": account.username, "password": f"guess{n}"})

    refused = client.post("/login/", {"username": account.username, "password": PASSWORD})
    api = client.post("/api/v1/auth/token", {"username": account.username,
                                             "password": PASSWORD},
                      content_type="application/json")

    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "Too many login attempts" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert api.status_code == 429


def test_an_inactive_account_cannot_sign_in(account):
    account.is_active = False
    account.save()

    response = client_from_anywhere().post("/login/", {"username": account.username,
                                                       "password": PASSWORD})

    assert response.status_code == 200 and "_auth_user_id" not in response.client.session


def test_sign_out_is_a_post_with_a_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    by_link = client.get("/logout/")
    forged = client.post("/logout/")
    page = client.get("/dashboard/")
    token = page.context["csrf_token"]
    done = client.post("/logout/", {"csrfmiddlewaretoken": str(token)})

    assert by_link.status_code == 405
    assert forged.status_code == 403
    assert done.status_code == 302 and done["Location"] == "/login/"
    assert client.get("/dashboard/").status_code == 302


def test_sign_in_needs_a_csrf_token(account):
    client = client_from_anywhere(enforce_csrf_checks=True)

    response = client.post("/login/", {"username": account.username, "password": PASSWORD})

    assert response.status_code == 403


def test_the_admin_view_site_link_leads_to_the_dashboard(olga):
    html = signed_in(olga).get("/admin/").content.decode()

    assert 'href="/dashboard/"' in html


def test_the_layout_has_landmarks_a_skip_link_and_labelled_fields(alice):
    html = signed_in(alice).get("/tasks/").content.decode()

    assert '<a class="skip-link" href="#main">' in html
    assert '<main id="main"' in html and '<nav class="site-nav" aria-label="Main">' in html
    assert 'name="viewport"' in html and '<html lang="en">' in html
    assert 'aria-current="page">Tasks<' in html
    # every visible input of the filter form has a label pointing at it
    for field_id in ("id_search", "id_status", "id_priority", "id_page_size"):
        assert f'for="{field_id}"' in html and f'id="{field_id}"' in html


def test_the_sign_in_form_labels_its_fields():
    html = Client().get("/login/").content.decode()

    assert 'for="id_username"' in html and 'for="id_password"' in html


@pytest.mark.parametrize(("who", "sees", "misses"), [
    ("alice", ["Dashboard", "Tasks", "My tasks", "Approvals"], ["Admin"]),
    ("margaret", ["Dashboard", "Tasks", "Approvals"], ["My tasks", "Admin"]),
    ("olga", ["Dashboard", "Tasks", "Approvals", "Admin"], ["My tasks"]),
    ("mallory", ["Dashboard", "Tasks", "My tasks", "Approvals"], ["Admin"]),
])
def test_the_navigation_shows_the_pages_the_user_may_see(request, who, sees, misses):
    user = request.getfixturevalue(who)
    html = signed_in(user).get("/dashboard/").content.decode()
    nav = html.split('aria-label="Main">', 1)[1].split("</nav>", 1)[0]

    for label in sees:
        assert f">{label}</a>" in nav
    for label in misses:
        assert f">{label}</a>" not in nav


def test_the_sign_in_page_sends_someone_signed_in_on(alice):
    response = signed_in(alice).get("/login/")

    assert response.status_code == 302 and response["Location"] == "/dashboard/"
