"""The approvals inbox in the admin, and a task's approval requests on its page.

Requests are read-only here: decisions are taken only through the bulk actions, which call
the same services as the API, one request at a time (its own locks and transaction), so one
refusal (your own request, already decided) does not undo the others.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from apps.core.actors import Actor
from apps.core.admin import apply_to_each
from apps.core.exceptions import Conflict, PermissionDenied

from . import services
from .models import ApprovalRequest
from .selectors import overdue_q


class OverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return (("yes", "Yes"), ("no", "No"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(overdue_q())
        if self.value() == "no":
            return queryset.exclude(overdue_q())
        return queryset


class RejectionForm(forms.Form):
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}), max_length=2000,
        help_text="Why: every requester reads it, and for a completion the assignee sees it "
                  "in the task's logs.",
    )


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "task", "requester", "status", "overdue", "created_at",
                    "due_at", "decider", "decided_at")
    list_filter = ("status", "kind", OverdueFilter)
    search_fields = ("task__title", "requester__username", "decider__username", "comment")
    list_select_related = ("task", "requester", "decider")
    date_hierarchy = "created_at"
    readonly_fields = [*(f.name for f in ApprovalRequest._meta.fields), "overdue"]
    actions = ["approve_selected", "reject_selected"]

    @admin.display(boolean=True, description="overdue")
    def overdue(self, obj: ApprovalRequest) -> bool:
        return obj.is_overdue

    def has_add_permission(self, request):
        # Requests open themselves when a task starts waiting for a decision.
        return False

    def has_change_permission(self, request, obj=None):
        # The list may take actions; a request's own page is read-only (no edits to status).
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    # --- decisions ------------------------------------------------------------------------
    def _decide_each(self, request, queryset, verb: str, *, comment: str = "") -> None:
        decide = services.approval_approve if verb == "approve" else services.approval_reject
        by = Actor.for_user(request.user)
        past = "approved" if verb == "approve" else "rejected"
        apply_to_each(
            self, request, queryset.order_by("pk").values_list("pk", flat=True),
            lambda pk: decide(request_id=pk, by=by, comment=comment),
            done=(f"%(n)d request {past}.", f"%(n)d requests {past}."),
            refused=("%(n)d request refused: already decided, or your own request or work.",
                     "%(n)d requests refused: already decided, or your own requests or work."),
            errors=(Conflict, PermissionDenied, ApprovalRequest.DoesNotExist),
        )

    @admin.action(description="Approve selected requests", permissions=["change"])
    def approve_selected(self, request, queryset):
        self._decide_each(request, queryset, "approve")

    @admin.action(description="Reject selected requests (asks why)", permissions=["change"])
    def reject_selected(self, request, queryset):
        form = RejectionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._decide_each(request, queryset, "reject", comment=form.cleaned_data["comment"])
            return None  # back to the list, with the messages
        context = {
            **self.admin_site.each_context(request),
            "title": "Reject approval requests",
            "opts": self.model._meta,
            "form": form,
            "requests": queryset.select_related("task", "requester"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/approvals/approvalrequest/reject_selected.html", context
        )


class ApprovalRequestInline(admin.TabularInline):
    """On the task page, under its history (apps.approvals.hooks adds it there)."""

    model = ApprovalRequest
    extra = 0
    can_delete = False
    fields = ("kind", "status", "requester", "decider", "comment", "created_at", "due_at",
              "decided_at", "escalated_at")
    readonly_fields = fields
    ordering = ("created_at", "id")
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False
