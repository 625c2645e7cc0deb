"""Sign-in forms for the admin and the pages, behind the same limiter as the API's login.

Any login page uses them: `LoginView.as_view(authentication_form=...)` with a form built on
RateLimitedLoginMixin, and `with_throttled_status` on its response (TaskManageAdminSite does).
"""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.validators import MaxLengthValidator
from django.views.decorators.debug import sensitive_variables

from apps.core.clients import client_ip

from .services import (
    PASSWORD_MAX_LENGTH,
    InvalidCredentials,
    LoginRateLimited,
    login_authenticate,
)

THROTTLED = "throttled"


class RateLimitedLoginMixin:
    """For django.contrib.auth's AuthenticationForm and its subclasses: sign in through
    login_authenticate, which counts the attempt and refuses it over the limit before the
    password is looked at."""

    retry_after = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A megabyte "password" is refused before it reaches the (deliberately slow) hasher.
        self.fields["password"].validators.append(MaxLengthValidator(PASSWORD_MAX_LENGTH))

    @sensitive_variables("password")
    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = login_authenticate(
                    username=username,
                    password=password,
                    client_ip=client_ip(self.request) if self.request else "",
                    request=self.request,
                )
            except LoginRateLimited as exc:
                self.retry_after = exc.retry_after
                raise forms.ValidationError(str(exc), code=THROTTLED) from exc
            except InvalidCredentials:
                raise self.get_invalid_login_error() from None
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    @property
    def throttled(self) -> bool:
        return self.retry_after > 0


class AdminLoginForm(RateLimitedLoginMixin, AdminAuthenticationForm):
    pass


def with_throttled_status(response):
    """A login page refused by the limiter answers 429 with Retry-After (the form and its
    error still render), so proxies, monitoring and scripts see what happened."""
    form = (getattr(response, "context_data", None) or {}).get("form")
    if isinstance(form, RateLimitedLoginMixin) and form.throttled:
        response.status_code = 429
        response["Retry-After"] = str(form.retry_after)
    return response
