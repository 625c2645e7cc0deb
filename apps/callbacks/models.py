"""Completion callbacks: where a task's final state is POSTed, with whose key it is signed,
and every delivery and attempt of it. The task itself has no column for any of this: the
callback is a row of its own, one-to-one with the task."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.tasks.models import Task

URL_MAX_LENGTH = 2000


class TaskCallback(models.Model):
    task = models.OneToOneField(Task, primary_key=True, on_delete=models.CASCADE,
                                related_name="callback")
    url = models.CharField(max_length=URL_MAX_LENGTH)
    # Whose secret signs the deliveries: the client that created the task.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                              related_name="+")
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.url


class CallbackSecret(models.Model):
    """A client's HMAC key for the callbacks of the tasks it creates. Rotating replaces it at
    once: a delivery is signed with the key current when it is attempted."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True,
                                on_delete=models.CASCADE, related_name="callback_secret")
    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField()
    rotated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"callback secret of user {self.user_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class CallbackDelivery(models.Model):
    """One message to deliver: the task's final state as it was when the task ended (the body
    is kept, so every attempt and a replay send the same bytes)."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="callback_deliveries")
    url = models.CharField(max_length=URL_MAX_LENGTH)
    body = models.TextField()
    task_status = models.CharField(max_length=20)
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When the next attempt is due; while one is in flight, when its lease ends (a worker
    # that died mid-attempt leaves it to the sweep after that).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "callback deliveries"
        indexes = [
            models.Index(fields=["next_attempt_at"], name="callback_due",
                         condition=models.Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"callback {self.pk} of task {self.task_id}"


class CallbackAttempt(models.Model):
    delivery = models.ForeignKey(CallbackDelivery, on_delete=models.CASCADE,
                                 related_name="attempt_rows")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="callback_attempt_once"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of callback {self.delivery_id}"
