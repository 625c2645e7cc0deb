"""Workflow API shapes. Serializers validate and shape; services decide and write."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.tasks.api.serializers import StrictFieldsMixin, TaskCreateSerializer
from apps.tasks.states import TaskStatus

from ..models import OnFailure, WorkflowStatus
from ..selectors import progress_of, status_of
from ..services import MAX_EDGES, MAX_NODES, NodeSpec

KEY_PATTERN = r"^[A-Za-z0-9_.:-]+$"


class NodeSerializer(TaskCreateSerializer):
    """One task of the graph: a task's fields, under a key the edges name. Dependencies come
    from the edges; a workflow's tasks are not drafts, shards or idempotent repeats."""

    key = serializers.RegexField(KEY_PATTERN, max_length=100,
                                 help_text="Unique in the workflow; letters, digits, _ . : -")
    depends_on = None
    idempotency_key = None
    parent = None
    shard_count = None
    draft = None

    def to_node(self, attrs: dict[str, Any]) -> NodeSpec:
        # The task create's own spec, so every field it takes (those other apps add, such as
        # callback_url, included) reaches the task; a node has no dependencies of its own.
        return NodeSpec(key=attrs["key"], spec=self.to_spec({
            "depends_on": [], "idempotency_key": None, "parent": None, "draft": False,
            **attrs}))


class WorkflowCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200)
    on_failure = serializers.ChoiceField(choices=OnFailure.choices,
                                         default=OnFailure.CANCEL_DOWNSTREAM)
    tasks = NodeSerializer(many=True, allow_empty=False, max_length=MAX_NODES)
    edges = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(max_length=100),
                                    min_length=2, max_length=2),
        default=list, max_length=MAX_EDGES,
        help_text="[before, after]: `after` is blocked until `before` completes.")

    def nodes(self) -> list[NodeSpec]:
        item = NodeSerializer(context=self.context)
        return [item.to_node(attrs) for attrs in self.validated_data["tasks"]]


class NodeRefSerializer(serializers.Serializer):
    key = serializers.CharField()
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=TaskStatus.choices)


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Tasks completed.")
    total = serializers.IntegerField()


class WorkflowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    on_failure = serializers.ChoiceField(choices=OnFailure.choices)
    status = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ChoiceField(choices=WorkflowStatus.choices))
    def get_status(self, workflow) -> str:
        return status_of(workflow=workflow)

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="A username."))
    def get_created_by(self, workflow) -> str | None:
        return workflow.created_by.username if workflow.created_by else None

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, workflow) -> dict[str, int]:
        return progress_of(workflow=workflow)


class WorkflowCreatedSerializer(WorkflowSerializer):
    tasks = NodeRefSerializer(many=True, help_text="In the order they were sent.")


class GraphNodeSerializer(serializers.Serializer):
    """A node of the graph. A task the caller may not see (the workflow is shown to whoever
    sees one of its tasks) is shown by its key and status only: id, title and type null."""

    key = serializers.CharField()
    id = serializers.UUIDField(source="task.pk", allow_null=True)
    title = serializers.CharField(source="task.title", allow_null=True)
    task_type = serializers.CharField(source="task.task_type_key", allow_null=True)
    status = serializers.ChoiceField(source="task.status", choices=TaskStatus.choices)
    depends_on = serializers.ListField(child=serializers.CharField())
    waits_for = serializers.ListField(child=serializers.CharField(),
                                      help_text="Dependencies not completed yet.")

    def to_representation(self, node):
        body = super().to_representation(node)
        if not node.visible:
            body.update(id=None, title=None, task_type=None)
        return body


class WorkflowDetailSerializer(WorkflowSerializer):
    nodes = GraphNodeSerializer(many=True)
    edges = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))


class InputsSerializer(serializers.Serializer):
    key = serializers.CharField()
    task_id = serializers.UUIDField()
    inputs = serializers.DictField(
        child=serializers.JSONField(allow_null=True),
        help_text="The result of each completed dependency, by its key.")
    waiting_for = serializers.ListField(child=serializers.CharField(),
                                        help_text="Dependencies not completed yet.")


def inputs_answer_field() -> serializers.Field:
    """`inputs` in a task's detail and a unit's claim (apps.workflows.hooks)."""
    return serializers.DictField(
        child=serializers.JSONField(allow_null=True), allow_null=True, read_only=True,
        help_text="For a workflow task with dependencies: the result of each completed "
                  "dependency, by its key ({} while none has completed). null for any other "
                  "task, and for a unit that does not hold the task.")
