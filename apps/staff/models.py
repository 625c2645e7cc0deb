"""People who do the work: skills, teams, staff members, leave."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

LEVEL = [MinValueValidator(1), MaxValueValidator(5)]


class Skill(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="managed_teams",
    )
    # Escalations go up this chain: the parent team's manager is the manager's manager.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Availability(models.TextChoices):
    ACTIVE = "active"
    ON_LEAVE = "on_leave"
    INACTIVE = "inactive"


class Staff(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    capacity = models.PositiveSmallIntegerField(
        default=3, help_text="How much open work (in task-type weights) they can hold at once."
    )
    # The weights of the tasks they hold now. Kept by the task services in the transaction
    # that hands a task over or takes it back (apps.staff.services), with a conditional
    # UPDATE that refuses to go over capacity; a sweep reconciles it with the tasks.
    load = models.PositiveIntegerField(default=0, editable=False)
    seniority = models.PositiveSmallIntegerField(default=1, validators=LEVEL)
    rating = models.PositiveSmallIntegerField(
        default=3, validators=LEVEL, help_text="Performance, 1 (low) to 5 (high)."
    )
    availability = models.CharField(
        max_length=10, choices=Availability.choices, default=Availability.ACTIVE
    )
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    skills = models.ManyToManyField(Skill, through="StaffSkill", related_name="staff")

    class Meta:
        ordering = ["user__username"]
        verbose_name_plural = "staff"
        constraints = [
            models.CheckConstraint(condition=Q(seniority__gte=1, seniority__lte=5),
                                   name="staff_seniority_1_5"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5),
                                   name="staff_rating_1_5"),
        ]
        indexes = [models.Index(fields=["availability", "team"], name="staff_avail_team_idx")]

    def __str__(self) -> str:
        return self.user.get_username()

    def save(self, *args, **kwargs):
        # `load` moves only through conditional UPDATEs in apps.staff.services; saving an
        # instance read earlier (an admin form, a script) must not write back a stale load.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields
                if not f.primary_key and f.name != "load"
            ]
        super().save(*args, **kwargs)

    @property
    def free_capacity(self) -> int:
        return max(self.capacity - self.load, 0)


class StaffSkill(models.Model):
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="staff_skills")
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="staff_skills")
    level = models.PositiveSmallIntegerField(validators=LEVEL)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["staff", "skill"], name="staffskill_unique"),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=5),
                                   name="staffskill_level_1_5"),
        ]
        indexes = [models.Index(fields=["skill", "level"], name="staffskill_skill_level_idx")]

    def __str__(self) -> str:
        return f"{self.skill} {self.level}"


class LeaveQuerySet(models.QuerySet):
    def covering(self, moment=None):
        moment = moment or timezone.now()
        return self.filter(start__lte=moment, end__gt=moment)


class Leave(models.Model):
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="leaves")
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    # While the leave lasts, new work that would have gone to them goes here, if qualified.
    substitute = models.ForeignKey(
        Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="substituting"
    )
    # Set when the sweep has handed their open work back (so it happens once per leave).
    started_handled_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LeaveQuerySet.as_manager()

    class Meta:
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="leave_ends_after_start"),
            models.CheckConstraint(condition=~Q(substitute=F("staff")),
                                   name="leave_substitute_is_someone_else"),
        ]
        indexes = [models.Index(fields=["staff", "start", "end"], name="leave_staff_period_idx")]

    def __str__(self) -> str:
        return f"{self.staff} {self.start:%Y-%m-%d} → {self.end:%Y-%m-%d}"


class RequiredSkill(models.Model):
    """A skill a task type needs, at a minimum level."""

    task_type = models.ForeignKey(
        "tasks.TaskType", on_delete=models.CASCADE, related_name="required_skills"
    )
    skill = models.ForeignKey(Skill, on_delete=models.PROTECT, related_name="required_by")
    level = models.PositiveSmallIntegerField(default=1, validators=LEVEL)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task_type", "skill"], name="requiredskill_unique"),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=5),
                                   name="requiredskill_level_1_5"),
        ]

    def __str__(self) -> str:
        return f"{self.skill} ≥ {self.level}"
