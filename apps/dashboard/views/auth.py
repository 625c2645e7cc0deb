"""Sign-in and sign-out with the Django session: the accounts the API and the admin use."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from apps.accounts.forms import with_throttled_status

from ..forms import SignInForm

_login = auth_views.LoginView.as_view(
    template_name="dashboard/login.html",
    authentication_form=SignInForm,
    redirect_authenticated_user=True,
)


@login_not_required
def sign_in(request: HttpRequest) -> HttpResponse:
    # Over the limit the form says so and the answer is a 429 with Retry-After, as the
    # admin's sign-in and the API's token endpoint answer.
    return with_throttled_status(_login(request))


# POST only (Django's LogoutView refuses GET): a link or an image cannot sign anyone out.
sign_out = auth_views.LogoutView.as_view(next_page="dashboard:sign-in")


@require_GET
def root(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard:home")
