from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import ngettext

from .models import ApiToken
from .services import tokens_revoke


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.active()
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_select_related = ["user"]
    list_filter = [TokenStateFilter, "created_at", "expires_at"]
    search_fields = ["user__username", "=key_prefix"]
    date_hierarchy = "created_at"
    actions = ["revoke_selected"]
    fields = [
        "user",
        "name",
        "key_prefix",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]
    readonly_fields = fields
    list_display = [*fields, "active"]

    @admin.display(boolean=True, description="active")
    def active(self, obj: ApiToken) -> bool:
        return obj.is_active

    # Tokens are issued through the API (the raw token is shown once, to its owner) and never
    # edited: a save from a stale change form would write back revoked_at=None and undo a
    # revocation made meanwhile. So the admin views and revokes, nothing else.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        count = tokens_revoke(tokens=queryset)
        self.message_user(
            request,
            ngettext("%(count)d token was revoked.", "%(count)d tokens were revoked.", count)
            % {"count": count},
            messages.SUCCESS,
        )
