"""Operators' view of people: skills, teams, staff with their skills and load, leave calendar.

Every save, inline and delete goes through apps.staff.services (the rules the API keeps:
leave overlap, team loops, who may be removed), with the form reporting a refusal on its field.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.forms.models import BaseInlineFormSet
from django.shortcuts import redirect

from apps.core.admin import ServiceAdminMixin, ServiceModelForm

from . import services
from .models import Leave, RequiredSkill, Skill, Staff, StaffSkill, Team


def _changed(form, names) -> dict:
    return {name: form.cleaned_data[name] for name in form.changed_data if name in names}


def _adopt(obj, created) -> None:
    """The admin goes on with the instance it built (its log entry, its redirect): give it
    what the service saved."""
    obj.__dict__.update(created.__dict__)


@admin.register(Skill)
class SkillAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ("name", "description")
    search_fields = ("name",)

    def save_model(self, request, obj, form, change):
        if change:
            services.skill_update(skill=obj, **_changed(form, ("name", "description")))
        else:
            _adopt(obj, services.skill_create(name=obj.name, description=obj.description))

    def delete_model(self, request, obj):
        services.skill_delete(skill=obj)  # refused (Conflict) while a task type needs it

    def delete_queryset(self, request, queryset):
        for skill in queryset:
            services.skill_delete(skill=skill)


class TeamForm(ServiceModelForm):
    class Meta:
        model = Team
        fields = ("name", "manager", "parent")

    def check(self, cleaned_data):
        if self.instance.pk is not None:
            services.team_check_parent(team=self.instance, parent=cleaned_data.get("parent"))


@admin.register(Team)
class TeamAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = TeamForm
    list_display = ("name", "manager", "parent")
    list_select_related = ("manager", "parent")
    search_fields = ("name", "manager__username")
    autocomplete_fields = ("manager", "parent")

    def save_model(self, request, obj, form, change):
        if change:
            services.team_update(team=obj, **_changed(form, ("name", "manager", "parent")))
        else:
            _adopt(obj, services.team_create(name=obj.name, manager=obj.manager,
                                             parent=obj.parent))

    def delete_model(self, request, obj):
        services.team_delete(team=obj)

    def delete_queryset(self, request, queryset):
        for team in queryset:
            services.team_delete(team=team)


class StaffSkillInline(admin.TabularInline):
    model = StaffSkill
    extra = 1
    autocomplete_fields = ("skill",)


@admin.register(Staff)
class StaffAdmin(ServiceAdminMixin, admin.ModelAdmin):
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
        # Through the service: an UPDATE of the changed columns only, never of `load`,
        # which task hand-overs move concurrently while this form is open.
        if change:
            services.staff_update(staff=obj, **_changed(form, services.STAFF_FIELDS))
            return
        fields = {name: form.cleaned_data[name] for name in services.STAFF_FIELDS}
        _adopt(obj, services.staff_enrol(user=form.cleaned_data["user"], **fields))

    def save_related(self, request, form, formsets, change):
        # The skills inline is the person's whole skill set: replaced through the service.
        for formset in formsets:
            if formset.model is StaffSkill:
                formset.save(commit=False)  # what changed, for the admin's history; not saved
                kept = [f.cleaned_data for f in formset.forms
                        if f.cleaned_data and not f.cleaned_data.get("DELETE")]
                services.staff_set_skills(
                    staff=form.instance,
                    skills=[(row["skill"], row["level"]) for row in kept])

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


class LeaveForm(ServiceModelForm):
    class Meta:
        model = Leave
        fields = ("staff", "start", "end", "reason", "substitute")

    def check(self, cleaned_data):
        # The API's rules (apps.staff.services.leave_check), reported on the field at fault.
        staff = cleaned_data.get("staff") or self.instance.staff  # read-only once saved
        services.leave_check(staff=staff, start=cleaned_data["start"],
                             end=cleaned_data["end"], substitute=cleaned_data.get("substitute"),
                             exclude=self.instance.pk)


@admin.register(Leave)
class LeaveAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = LeaveForm
    list_display = ("staff", "start", "end", "substitute", "reason")
    list_filter = ("start", "end", "staff__team")
    list_select_related = ("staff__user", "substitute__user")
    search_fields = ("staff__user__username", "substitute__user__username", "reason")
    autocomplete_fields = ("staff", "substitute")
    date_hierarchy = "start"
    ordering = ("start",)
    readonly_fields = ("started_handled_at", "created_at")

    def get_readonly_fields(self, request, obj=None):
        # A leave stays with its person: moving it would skip the new person's overlap check
        # under their lock, and their handed-back work would belong to someone else.
        return (*self.readonly_fields, "staff") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        fields = ("start", "end", "reason", "substitute")
        if change:
            services.leave_update(leave=obj, **_changed(form, fields))
        else:
            _adopt(obj, services.leave_request(
                staff=obj.staff, **{name: getattr(obj, name) for name in fields}))

    def delete_model(self, request, obj):
        services.leave_delete(leave=obj)

    def delete_queryset(self, request, queryset):
        for leave in queryset:
            services.leave_delete(leave=leave)


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
    """On the task type page (apps.staff.hooks adds it there)."""

    model = RequiredSkill
    formset = RequiredSkillFormSet
    extra = 1
    autocomplete_fields = ("skill",)
