"""A workflow names a graph of tasks: its nodes are tasks under keys; its edges are the tasks'
own `depends_on`, so the task life cycle (blocked until every dependency completes) is the
workflow's without a second copy of the graph."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.tasks.models import Task


class OnFailure(models.TextChoices):
    # Dependants (transitively) of a task that ends failed, cancelled or rejected are
    # cancelled with it, in the same transaction.
    CANCEL_DOWNSTREAM = "cancel_downstream"
    # They stay blocked until the task is retried by hand and completes.
    WAIT = "wait"


class WorkflowStatus(models.TextChoices):
    """Derived from the tasks (apps.workflows.selectors.status_of), never stored."""

    RUNNING = "running"  # something is still to do
    STALLED = "stalled"  # only blocked tasks are left, behind one that ended badly (`wait`)
    COMPLETED = "completed"  # every task completed
    FAILED = "failed"  # nothing open, and some task failed or was rejected
    CANCELLED = "cancelled"  # nothing open, some cancelled, none failed


class Workflow(models.Model):
    name = models.CharField(max_length=200)
    on_failure = models.CharField(max_length=20, choices=OnFailure.choices,
                                  default=OnFailure.CANCEL_DOWNSTREAM)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["-created_at"], name="workflow_created_idx")]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"


class WorkflowNode(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="nodes")
    key = models.CharField(max_length=100)
    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="workflow_node")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "key"], name="workflow_node_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id}:{self.key}"
