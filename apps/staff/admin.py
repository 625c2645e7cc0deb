"""Operators' view of people: skills, teams, staff with their skills and load, leave calendar."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.forms.models import BaseInlineFormSet
from django.shortcuts import redirect

from . import services
from .models import Leave, RequiredSkill, Skill, Staff, StaffSkill, Team


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ("name", "description")
    search_fields = ("name",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "manager", "parent")
    list_select_related = ("manager", "parent")
    search_fields = ("name", "manager__username")
    autocomplete_fields = ("manager", "parent")


class StaffSkillInline(admin.TabularInline):
    model = StaffSkill
    extra = 1
    autocomplete_fields = ("skill",)


@admin.register(Staff)
class StaffAdmin(admin.ModelAdmin):
    list_display = ("user", "full_name", "team", "load", "capacity", "availability",
                    "seniority", "rating", "last_assigned_at")
    list_filter = ("team", ("staff_skills__skill", admin.RelatedOnlyFieldListFilter),
                   "availability")
    list_select_related = ("user", "team")
    search_fields = ("user__username", "user__first_name", "user__last_name")
    autocomplete_fields = ("user", "team")
    readonly_fields = ("load", "last_assigned_at")
    fields = ("user", "team", "capacity", "load", "seniority", "rating", "availability",
              "last_assigned_at")
    inlines = [StaffSkillInline]
    actions = ["delete_selected"]  # ours, below: it refuses people who hold work

    def get_readonly_fields(self, request, obj=None):
        # The record belongs to its user for good; re-pointing it would move someone's load.
        return (*self.readonly_fields, "user") if obj else self.readonly_fields

    @admin.display(description="name", ordering="user__last_name")
    def full_name(self, obj: Staff) -> str:
        return obj.user.get_full_name()

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Through the service: an UPDATE of the changed columns only, never of `load`,
        # which task hand-overs move concurrently while this form is open.
        changed = {name: form.cleaned_data[name] for name in form.changed_data
                   if name in services.STAFF_FIELDS}
        services.staff_update(staff=obj, **changed)

    # --- removal: refused while the person holds work (services.staff_delete) -----------------
    def delete_view(self, request, object_id, extra_context=None):
        staff = self.get_object(request, object_id)
        try:
            if staff is not None:
                services.staff_check_removable(staff=staff)  # before the confirmation page
            return super().delete_view(request, object_id, extra_context)
        except services.StaffHoldsWork as exc:
            self.message_user(request, f"Not deleted: {exc}", messages.ERROR)
            return redirect("admin:staff_staff_change", object_id)

    def delete_model(self, request, obj):
        services.staff_delete(staff=obj)

    @admin.action(permissions=["delete"], description="Delete selected staff")
    def delete_selected(self, request, queryset):
        refused = []
        for staff in queryset.select_related("user"):
            try:
                services.staff_check_removable(staff=staff)
            except services.StaffHoldsWork as exc:
                refused.append(str(exc))
        if refused:
            self.message_user(request, "Nothing deleted: " + " / ".join(refused), messages.ERROR)
            return None
        return django_delete_selected(self, request, queryset)

    def delete_queryset(self, request, queryset):
        for staff in queryset:
            services.staff_delete(staff=staff)


@admin.register(Leave)
class LeaveAdmin(admin.ModelAdmin):
    list_display = ("staff", "start", "end", "substitute", "reason")
    list_filter = ("start", "end", "staff__team")
    list_select_related = ("staff__user", "substitute__user")
    search_fields = ("staff__user__username", "substitute__user__username", "reason")
    autocomplete_fields = ("staff", "substitute")
    date_hierarchy = "start"
    ordering = ("start",)
    readonly_fields = ("started_handled_at", "created_at")


class RequiredSkillFormSet(BaseInlineFormSet):
    """Saves a task type's required skills as one set, through the service the API uses."""

    def save_through_services(self, *, by) -> None:
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        if not self.has_changed():
            return
        kept = [(form.cleaned_data["skill"], form.cleaned_data["level"])
                for form in self.forms
                if form.cleaned_data.get("skill") is not None
                and not form.cleaned_data.get("DELETE")]
        services.required_skills_set(task_type=self.instance, skills=kept)


class RequiredSkillInline(admin.TabularInline):
    """On the task type page (apps.staff.extensions adds it there)."""

    model = RequiredSkill
    formset = RequiredSkillFormSet
    extra = 1
    autocomplete_fields = ("skill",)
