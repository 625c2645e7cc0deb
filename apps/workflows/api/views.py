"""Workflow API: thin views over the workflow services and selectors."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from apps.core.actors import Actor
from apps.core.exceptions import PermissionDenied
from apps.tasks.models import Task
from apps.tasks.selectors import active_task_types, tasks_visible_to
from apps.tasks.states import HELD_STATES

from .. import services
from ..models import Workflow
from ..selectors import (
    node_for,
    node_inputs,
    set_counts,
    workflow_graph,
    workflows_visible_to,
)
from .serializers import (
    InputsSerializer,
    WorkflowCreatedSerializer,
    WorkflowCreateSerializer,
    WorkflowDetailSerializer,
    WorkflowSerializer,
)


class WorkflowViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Workflows: create a graph of tasks at once, list, read with the graph, and a node's
    inputs (its dependencies' results), which a unit running the node may read too."""

    serializer_class = WorkflowSerializer
    # What an execution unit's credential may call here (any other endpoint refuses it).
    machine_actions = frozenset({"inputs"})

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Workflow.objects.none()
        return workflows_visible_to(user=self.request.user)

    @extend_schema(request=WorkflowCreateSerializer, responses={201: WorkflowCreatedSerializer})
    def create(self, request, *args, **kwargs):
        items = request.data.get("tasks") if isinstance(request.data, dict) else None
        items = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
        keys = {i["task_type"] for i in items if isinstance(i.get("task_type"), str)}
        ser = WorkflowCreateSerializer(data=request.data,
                                       context={"request": request,
                                                "task_types": active_task_types(keys=keys)})
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        workflow, tasks = services.workflow_create(
            name=data["name"], on_failure=data["on_failure"], nodes=ser.nodes(),
            edges=[tuple(e) for e in data["edges"]], by=Actor.for_user(request.user))
        # Just written: shaped from memory, not read back.
        set_counts(workflow=workflow, statuses=[t.status for t in tasks])
        body = WorkflowSerializer(workflow).data
        body["tasks"] = [{"key": n.key, "id": str(t.pk), "status": t.status}
                         for n, t in zip(ser.nodes(), tasks, strict=True)]
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: WorkflowDetailSerializer})
    def retrieve(self, request, pk=None):
        workflow = get_object_or_404(self.get_queryset(), pk=pk)
        nodes, edges = workflow_graph(workflow=workflow, user=request.user)
        body = WorkflowSerializer(workflow).data
        body["nodes"] = WorkflowDetailSerializer().fields["nodes"].to_representation(nodes)
        body["edges"] = [list(e) for e in edges]
        return Response(body)

    @extend_schema(responses={200: InputsSerializer})
    @action(detail=True, methods=["get"], url_path=r"tasks/(?P<key>[A-Za-z0-9_.:-]+)/inputs",
            filter_backends=[], pagination_class=None)
    def inputs(self, request, pk=None, key=None):
        """The results of the node's completed dependencies, by their keys: for whoever may
        see the node's task (a unit: a task of a type it serves)."""
        workflow = get_object_or_404(Workflow.objects.all(), pk=pk)
        node = node_for(workflow=workflow, key=key)
        if node is None or not tasks_visible_to(user=request.user).filter(
                pk=node.task_id).exists():
            raise NotFound("No such task in this workflow.")
        by = Actor.for_user(request.user)
        if by.kind == "unit" and not Task.objects.filter(
                pk=node.task_id, assignee_unit_id=by.ref, status__in=sorted(HELD_STATES)
        ).exists():
            # A unit reads the inputs of the task it holds, not of any task of its type.
            raise PermissionDenied("Only the unit holding this task reads its inputs.")
        inputs, waiting = node_inputs(node=node)
        return Response({"key": node.key, "task_id": str(node.task_id), "inputs": inputs,
                         "waiting_for": waiting})

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.action == "create" and getattr(request.user, "is_machine", False):
            raise PermissionDenied("Units do not create workflows.")
