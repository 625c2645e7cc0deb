"""Assignment records and unassignable work in the admin; bulk reassign on tasks."""

from __future__ import annotations

from django.contrib import admin
from django.forms.models import BaseInlineFormSet

from apps.core.actors import Actor
from apps.core.admin import add_form_errors, apply_to_each
from apps.core.exceptions import Conflict, InvalidInput

from . import services
from .models import OPEN_OUTCOMES, Assignment, AssignmentPolicy, Unassignable
from .selectors import policy_of


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("created_at", "task", "assignee_user", "strategy", "score", "reason",
                    "outcome", "expires_at")
    list_filter = ("outcome", "reason", "strategy", "excludes_assignee")
    search_fields = ("task__id", "task__title", "assignee_user__username", "explanation")
    list_select_related = ("task", "assignee_user")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Assignment._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Unassignable)
class UnassignableAdmin(admin.ModelAdmin):
    list_display = ("task", "reason", "since", "checked_at")
    search_fields = ("task__id", "task__title")
    list_select_related = ("task",)
    readonly_fields = ("task", "reason", "since", "checked_at")

    def has_add_permission(self, request):
        return False


@admin.action(description="Reassign selected tasks (the engine picks someone else)",
              permissions=["change"])
def reassign_selected(modeladmin, request, queryset):
    """A bulk action of the task admin (apps.assignment.hooks adds it there)."""
    by = Actor.for_user(request.user)
    apply_to_each(
        modeladmin, request, queryset.values_list("pk", flat=True),
        lambda pk: services.task_reassign(task_id=pk, by=by, reason="admin bulk"),
        done=("%(n)d task sent for reassignment.", "%(n)d tasks sent for reassignment."),
        refused=("%(n)d task skipped: not reassignable from its status.",
                 "%(n)d tasks skipped: not reassignable from their status."),
        errors=(Conflict,),
    )


@admin.display(description="held by")
def assignment_panel(task) -> str:
    """A panel of the task's page (apps.assignment.hooks adds it there): who holds it and
    how they were chosen, or why nobody could be."""
    record = (Assignment.objects.filter(task_id=task.pk, outcome__in=OPEN_OUTCOMES)
              .select_related("assignee_user").first())
    if record is not None:
        return (f"{record.assignee_user.get_username()} ({record.outcome}, {record.strategy}, "
                f"score {record.score:.3f})")
    waiting = Unassignable.objects.filter(task_id=task.pk).values_list("reason", flat=True)
    return f"nobody: {waiting[0]}" if waiting else "nobody"


# --- on the task type page (apps.assignment.hooks adds these there) ----------------------
class AssignmentPolicyFormSet(BaseInlineFormSet):
    """Saves the policy through services.assignment_policy_set (its checks, the row lock)."""

    def clean(self):
        # The strategy (and its params) must serve the type's assignee kind as posted on the
        # same page: a form error on the field here, not the service refusing the save.
        super().clean()
        for form in self.forms:
            if form.errors:
                continue  # an unknown name says so already
            posted = form.cleaned_data if form.has_changed() else {}
            try:
                services.assignment_policy_check(task_type=self.instance,
                                                 strategy=posted.get("strategy"),
                                                 params=posted.get("strategy_params"))
            except InvalidInput as exc:
                add_form_errors(form, exc)

    def save_through_services(self, *, by) -> None:
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        for form in self.forms:
            if form.has_changed():
                changed = {name: form.cleaned_data[name] for name in form.changed_data
                           if name in services.POLICY_FIELDS}
                services.assignment_policy_set(task_type=self.instance, by=by, **changed)


class AssignmentPolicyInline(admin.StackedInline):
    """How the type's work is assigned. A type without a row shows the defaults it runs
    with; nothing is written unless they are changed. `strategy` is checked against the
    registry (the model field's validator), so a typo is a form error here."""

    model = AssignmentPolicy
    formset = AssignmentPolicyFormSet
    extra = 1
    max_num = 1
    can_delete = False
    autocomplete_fields = ("overflow_assignee",)
    verbose_name_plural = "assignment"


@admin.display(description="strategy")
def strategy_column(task_type) -> str:
    return policy_of(task_type=task_type).strategy
