"""Alert rules are edited here; the alerts sent are a record, read-only."""

from __future__ import annotations

from django.contrib import admin

from apps.core.admin import ReadOnlyAdminMixin

from .models import Alert, AlertIncident, AlertRule


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "task_type", "is_active", "quiet_period_seconds",
                    "email_to", "webhook_url")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    readonly_fields = ("webhook_secret", "created_at")
    autocomplete_fields = ()
    fieldsets = (
        (None, {"fields": ("name", "kind", "is_active", "task_type", "quiet_period_seconds")}),
        ("Backed-up queue", {"fields": ("max_depth", "max_age_seconds")}),
        ("Channels", {"fields": ("email_to", "webhook_url", "webhook_secret")}),
        (None, {"fields": ("created_at",)}),
    )


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "rule_name", "kind", "subject", "summary", "email_status",
                    "webhook_status", "webhook_status_code")
    list_filter = ("kind", "email_status", "webhook_status")
    search_fields = ("rule_name", "subject", "summary")
    date_hierarchy = None
    list_select_related = ()
    show_full_result_count = False


@admin.register(AlertIncident)
class AlertIncidentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("rule", "subject", "first_fired_at", "last_sent_at", "alerts_sent")
    list_filter = ("rule",)
    list_select_related = ("rule",)
