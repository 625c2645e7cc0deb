"""Task API: thin views over the task services and selectors."""

from __future__ import annotations

import uuid

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from apps.accounts.roles import is_admin
from apps.core.actors import Actor
from apps.core.exceptions import Conflict, PermissionDenied

from .. import extensions, services
from ..filters import TaskFilter, TaskLogFilter
from ..models import Task, TaskType
from ..policies import API_ACTIONS, may_act
from ..selectors import active_task_types, task_history, task_logs, tasks_visible_to
from .serializers import (
    ProgressSerializer,
    StatusChangeSerializer,
    TaskBatchResultSerializer,
    TaskBatchSerializer,
    TaskCreateSerializer,
    TaskDetailSerializer,
    TaskHistorySerializer,
    TaskLogBatchSerializer,
    TaskLogSerializer,
    TaskSerializer,
    TaskTypeSerializer,
    TaskUpdateSerializer,
    TransitionSerializer,
    plain_spec,
    plain_specs,
)


def task_queryset(user):
    return tasks_visible_to(user=user).select_related(
        "created_by", *extensions.task_create_joins()
    ).prefetch_related(
        # status too: the state-machine mixin reads it on load (a deferred field would
        # cost one query per dependency).
        Prefetch("depends_on", queryset=Task.objects.only("id", "status"))
    )


def visible_task(request, pk) -> Task:
    """The task, if the caller sees it; a 404 otherwise, also for an id that is no UUID
    (DRF's get_object_or_404 treats a malformed id as not found, Django's raises)."""
    return get_object_or_404(tasks_visible_to(user=request.user), pk=pk)


def task_for_action(request, pk, action_name: str) -> Task:
    """The task, if the caller sees it (404 otherwise) and may do `action_name` (else 403)."""
    task = visible_task(request, pk)
    if not may_act(request.user, task, action_name):
        raise PermissionDenied(f"You may not {action_name} this task.")
    return task


def task_response(request, task: Task, code=status.HTTP_200_OK) -> Response:
    """The task as the caller now sees it; or, when their action took it out of their sight
    (a holder who declined, a manager who handed it to another team), as the action left it:
    what they did is theirs to see, whoever holds the task a moment later."""
    fresh = task_queryset(request.user).filter(pk=task.pk).first()
    shown = fresh if fresh is not None else task
    return Response(TaskDetailSerializer(shown, context={"request": request}).data, status=code)


class IsAdminOrReadOnly(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or is_admin(request.user)


class TaskTypeViewSet(viewsets.ModelViewSet):
    """Task types: everyone signed in reads them; operators (admins) define them."""

    queryset = TaskType.objects.order_by("key")
    serializer_class = TaskTypeSerializer
    permission_classes = [permissions.IsAuthenticated, IsAdminOrReadOnly]
    lookup_field = "key"
    filterset_fields = ["assignee_kind", "is_active", "queue"]

    def get_queryset(self):
        # What other apps' fields read (required skills, policies), for every type at once.
        return super().get_queryset().prefetch_related(*extensions.task_type_prefetches())

    def perform_create(self, serializer):
        serializer.instance = services.task_type_create(
            by=Actor.for_user(self.request.user), **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.task_type_update(
            task_type=serializer.instance, by=Actor.for_user(self.request.user),
            **serializer.validated_data)

    def perform_destroy(self, instance):
        services.task_type_delete(task_type=instance, by=Actor.for_user(self.request.user))


def _create_context(request, items: list) -> dict:
    """Look up, once per request, what every item refers to: task types and tasks."""
    dicts = [i for i in items if isinstance(i, dict)]
    keys = {i["task_type"] for i in dicts if isinstance(i.get("task_type"), str)}
    types = active_task_types(keys=keys)
    refs = {r for i in dicts for r in _task_refs(i) if _is_uuid(r)}
    visible = set()
    if refs:
        visible = set(
            tasks_visible_to(user=request.user).filter(pk__in=refs).values_list("pk", flat=True)
        )
    return {"request": request, "task_types": types, "visible_ids": visible}


def _task_refs(item: dict) -> list[str]:
    deps = item.get("depends_on")
    refs = [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []
    if isinstance(item.get("parent"), str):
        refs.append(item["parent"])
    return refs


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@extend_schema_view(
    list=extend_schema(parameters=[
        OpenApiParameter("status", str, description="One status or several, comma-separated"),
    ]),
    retrieve=extend_schema(responses=TaskDetailSerializer),
)
class TaskViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    # What an execution unit's credential may call here (any other endpoint refuses it).
    machine_actions = frozenset({"retrieve", "progress", "logs", "transition_start",
                                 "transition_complete", "transition_fail"})

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Task.objects.none()
        return task_queryset(self.request.user)

    def get_serializer_class(self):
        # The detail adds what other apps keep for the task's work (a workflow's inputs).
        return TaskDetailSerializer if self.action == "retrieve" else TaskSerializer

    def _actor(self) -> Actor:
        return Actor.for_user(self.request.user)

    def _task_for(self, pk, action_name: str) -> Task:
        return task_for_action(self.request, pk, action_name)

    def _respond(self, task: Task, code=status.HTTP_200_OK) -> Response:
        return task_response(self.request, task, code)

    # --- creation ---------------------------------------------------------------------------
    @extend_schema(request=TaskCreateSerializer,
                   responses={201: TaskDetailSerializer, 200: TaskDetailSerializer})
    def create(self, request, *args, **kwargs):
        context = _create_context(request, [request.data])
        spec = plain_spec(request.data, context["task_types"])
        if spec is None:  # not plain, or invalid: the serializer decides and explains
            ser = TaskCreateSerializer(data=request.data, context=context)
            ser.is_valid(raise_exception=True)
            spec = ser.to_spec()
        task, created = services.task_create(spec=spec, by=self._actor())
        if not created:
            # The same idempotency key again: the task it made, and 200 rather than 201.
            return self._respond(task, status.HTTP_200_OK)
        # Just written by us: shape it from memory rather than read it back (three queries
        # on the hottest endpoint). Nobody holds a new task; its dependencies are the spec's.
        task.depends_on_ids = [str(pk) for pk in spec.depends_on]
        body = TaskDetailSerializer(task, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=TaskBatchSerializer, responses={201: TaskBatchResultSerializer})
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def batch(self, request):
        items = request.data.get("tasks") if isinstance(request.data, dict) else None
        context = _create_context(request, items if isinstance(items, list) else [])
        specs = plain_specs(request.data, context["task_types"])
        if specs is None:  # not plain, or invalid: the serializers decide and explain
            ser = TaskBatchSerializer(data=request.data, context=context)
            ser.is_valid(raise_exception=True)
            item_ser = TaskCreateSerializer(context=context)
            specs = [item_ser.to_spec(attrs) for attrs in ser.validated_data["tasks"]]
        tasks, created = services.tasks_create_batch(specs=specs, by=self._actor())
        new_ids = {t.pk for t in created}
        body = {
            "created": len(created),
            "tasks": [{"id": str(t.pk), "status": t.status, "created": t.pk in new_ids}
                      for t in tasks],
        }
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=TaskUpdateSerializer, responses=TaskDetailSerializer)
    def partial_update(self, request, pk=None):
        task = self._task_for(pk, "edit")
        ser = TaskUpdateSerializer(data=request.data, partial=True)
        ser.is_valid(raise_exception=True)
        task = services.task_update(task_id=task.pk, changes=dict(ser.validated_data),
                                    by=self._actor())
        return self._respond(task)

    # --- records ----------------------------------------------------------------------------
    @extend_schema(responses=TaskHistorySerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request, pk=None):
        task = self.get_object()
        page = self.paginate_queryset(task_history(task=task))
        return self.get_paginated_response(TaskHistorySerializer(page, many=True).data)

    @extend_schema(
        methods=["GET"], responses=TaskLogSerializer(many=True),
        parameters=[OpenApiParameter("attempt", int)],
    )
    @extend_schema(methods=["POST"], request=TaskLogBatchSerializer,
                   responses={201: TaskLogSerializer(many=True)})
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def logs(self, request, pk=None):
        if request.method == "POST":
            return self._append_logs(request, pk)
        task = self.get_object()
        lines = TaskLogFilter(request.query_params, queryset=task_logs(task=task))
        if not lines.is_valid():
            raise ValidationError(lines.errors)
        page = self.paginate_queryset(lines.qs)
        return self.get_paginated_response(TaskLogSerializer(page, many=True).data)

    def _append_logs(self, request, pk):
        task = self._task_for(pk, "log")
        data = request.data
        ser = TaskLogBatchSerializer(data=data if isinstance(data, dict) and "lines" in data
                                     else {"lines": [data]})
        ser.is_valid(raise_exception=True)
        lines = [(line["level"], line["message"]) for line in ser.validated_data["lines"]]
        rows = services.task_log_append(task=task, lines=lines, by=self._actor())
        return Response(TaskLogSerializer(rows, many=True).data, status=status.HTTP_201_CREATED)

    # --- life cycle -------------------------------------------------------------------------
    def perform_action(self, request, pk, name: str) -> Response:
        task = self._task_for(pk, name)
        ser = TransitionSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        return self._respond(self._run(task, name, ser.validated_data))

    def _run(self, task: Task, name: str, data: dict) -> Task:
        return services.task_act(
            task=task, action=name, by=self._actor(), reason=data.get("reason", ""),
            result=data.get("result"), error=data.get("error", ""),
            retryable=data.get("retryable", True), among=API_ACTIONS,
        )

    @extend_schema(request=StatusChangeSerializer, responses=TaskDetailSerializer)
    @action(detail=True, methods=["put"], url_path="status", filter_backends=[],
            pagination_class=None)
    def set_status(self, request, pk=None):
        """Move the task to a status: mapped onto the transition that leads there."""
        task = visible_task(request, pk)  # an unknown task is a 404 whatever the body says
        ser = StatusChangeSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        target = ser.validated_data["status"]
        actions = services.task_actions_reaching(task=task, status=target, among=API_ACTIONS)
        if not actions:
            raise Conflict(
                f"no transition leads from {task.status} to {target}", current=task.status,
                allowed=services.allowed_actions(task=task, among=API_ACTIONS),
            )
        task = self._task_for(pk, actions[0])
        return self._respond(self._run(task, actions[0], ser.validated_data))

    @extend_schema(request=ProgressSerializer, responses=TaskDetailSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def progress(self, request, pk=None):
        task = self._task_for(pk, "progress")
        ser = ProgressSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.task_report_progress(task=task, by=self._actor(), **ser.validated_data)
        return self._respond(task)


def _transition_endpoint(name: str):
    def endpoint(self, request, pk=None):
        return self.perform_action(request, pk, name)

    endpoint.__name__ = f"transition_{name}"
    endpoint = action(detail=True, methods=["post"], url_path=name, url_name=name,
                      filter_backends=[], pagination_class=None)(endpoint)
    # After @action, not before: action() replaces the function's kwargs, where
    # extend_schema keeps its override (the body was documented as a whole Task).
    return extend_schema(
        request=TransitionSerializer, responses=TaskDetailSerializer,
        summary=f"{name.capitalize()} the task",
        description="409 with `allowed_transitions` when not allowed from its status.",
    )(endpoint)


for _name in API_ACTIONS:
    setattr(TaskViewSet, f"transition_{_name}", _transition_endpoint(_name))
