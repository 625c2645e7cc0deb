"""The admin site, with its sign-in behind the login limiter (apps.accounts.forms).

Installed in place of django.contrib.admin (INSTALLED_APPS names TaskManageAdminConfig), so
`admin.site` and every `@admin.register` use it.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth.decorators import login_not_required


class TaskManageAdminSite(admin.AdminSite):
    # "View site" leads to the pages people work in (apps.dashboard), not to a bare "/".
    site_url = "/dashboard/"

    # Imported when used: this module is loaded with the app registry, before any model.
    @property
    def login_form(self):
        from .forms import AdminLoginForm

        return AdminLoginForm

    @login_not_required
    def login(self, request, extra_context=None):
        from .forms import with_throttled_status

        return with_throttled_status(super().login(request, extra_context))


class TaskManageAdminConfig(AdminConfig):
    default_site = "apps.accounts.admin_site.TaskManageAdminSite"
