"""Task API shapes. Serializers validate and shape; services decide and write."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import prefetch_related_objects
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.fields import JSONObjectField

from .. import extensions
from ..models import MAX_SHARDS, Task, TaskHistory, TaskLog, TaskType
from ..services import TaskSpec, allowed_actions
from ..states import PRIORITY_NAMES, AssigneeKind, LogLevel, Priority, TaskStatus


class PriorityField(serializers.ChoiceField):
    """Priorities are words on the wire and numbers in the database (so queues sort)."""

    def __init__(self, **kwargs):
        super().__init__(choices=PRIORITY_NAMES, **kwargs)

    def to_internal_value(self, data):
        return int(Priority.from_name(super().to_internal_value(data)))

    def to_representation(self, value):
        return Priority(value).key


class StrictFieldsMixin:
    """Refuse fields the serializer does not accept, instead of silently dropping them.

    Without this, a client sending `status` or `assignee` on create would get a 201 and a
    task that ignored what it asked for; a clear 400 names the field it may not set.
    """

    def validate_unknown_fields(self, data):
        if not isinstance(data, dict):
            return
        writable = {name for name, f in self.fields.items() if not f.read_only}
        unknown = sorted(set(data) - writable)
        if unknown:
            raise serializers.ValidationError(
                {name: ["This field cannot be set here."] for name in unknown}
            )

    def validate_string_types(self, data):
        """DRF's CharField turns 7 or true into "7" and "True"; the schema says string, and a
        client sending a number where text belongs has a bug worth hearing about."""
        if not isinstance(data, dict):
            return
        wrong = [name for name, field in self.fields.items()
                 if isinstance(field, serializers.CharField) and not field.read_only
                 and name in data and data[name] is not None and not isinstance(data[name], str)]
        if wrong:
            raise serializers.ValidationError({name: ["Must be a string."] for name in wrong})

    def to_internal_value(self, data):
        self.validate_unknown_fields(data)
        self.validate_string_types(data)
        return super().to_internal_value(data)


class TaskTypeSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    # The task type's own fields, and those other apps contribute through
    # apps.tasks.extensions (required skills from the staff app, the assignment policy from
    # the assignment app), which the task type services hand to their owners to write. (A
    # comment, not a docstring: the schema would publish a docstring as the description.)

    priority = PriorityField(required=False)

    class Meta:
        model = TaskType
        fields = [
            "id", "key", "name", "description", "assignee_kind",
            "requires_creation_approval", "requires_completion_approval", "priority",
            "capacity_weight", "timeout", "max_retries", "retry_backoff", "retry_backoff_max",
            "retry_backoff_factor", "retry_jitter", "queue", "is_active", "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # The column is unbounded (TextField); bounded here, where clients write it.
        extra_kwargs = {"description": {"max_length": 5000}}

    def get_fields(self):
        return extensions.task_type_fields(super().get_fields())

    def validate(self, attrs):
        base = attrs.get("retry_backoff", getattr(self.instance, "retry_backoff", 30))
        cap = attrs.get("retry_backoff_max", getattr(self.instance, "retry_backoff_max", 3600))
        if cap < base:
            raise serializers.ValidationError(
                {"retry_backoff_max": ["Must not be lower than retry_backoff."]}
            )
        return attrs


# Formats datetimes exactly as the fields ModelSerializer builds (ISO 8601, UTC as "Z").
_DATETIME = serializers.DateTimeField(read_only=True)


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}],
                      "description": "A staff record's or user's id (a number), or an "
                                     "execution unit's id (worker-001)."})
class HolderIdField(serializers.Field):
    def to_representation(self, value):
        return value


class AssigneeSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["staff", "user", "unit"])
    id = HolderIdField()
    user_id = serializers.IntegerField(allow_null=True, help_text="null for a unit")
    name = serializers.CharField()


class TaskListSerializer(serializers.ListSerializer):
    """Many tasks: what other apps keep for them (apps.tasks.extensions) is read in one query
    for the lot, unless the query that loaded them joined it already."""

    def to_representation(self, data):
        tasks = list(data.all() if hasattr(data, "all") else data)
        joins = extensions.task_create_joins()
        if tasks and joins:
            prefetch_related_objects(tasks, *joins)
        return super().to_representation(tasks)


class TaskSerializer(serializers.ModelSerializer):
    task_type = serializers.SlugRelatedField(slug_field="key", read_only=True)
    priority = PriorityField(read_only=True)
    assignee = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True,
                                              allow_null=True)
    depends_on = serializers.SerializerMethodField()
    allowed_transitions = serializers.SerializerMethodField()

    def get_fields(self):
        # Fields other apps keep for a task (apps.tasks.extensions), read through their owner.
        fields = super().get_fields()
        for c in extensions.task_create_fields():
            fld = c.schema_field()
            fld.get_attribute = c.read
            fields[c.name] = fld
        return fields

    class Meta:
        model = Task
        list_serializer_class = TaskListSerializer
        fields = [
            "id", "title", "task_type", "priority", "status", "payload", "result", "error",
            "progress", "estimated_completion", "assignee", "created_by", "reference", "labels",
            "idempotency_key", "run_at", "due_at", "attempts", "parent", "shard_index",
            "shard_count", "depends_on", "allowed_transitions", "created_at", "updated_at",
            "queued_at", "assigned_at", "started_at", "finished_at",
        ]
        read_only_fields = fields

    def to_representation(self, task: Task) -> dict[str, Any]:
        """The fields above, written out. DRF's generic loop builds the 27 fields from the
        model for every serializer instance (each response), which cost more than the rest
        of a create. The schema still comes from the declared fields; a test holds this
        equal to the generic representation (tests/tasks/test_lean_create.py)."""
        dt = _DATETIME.to_representation
        creator = task.created_by
        body = self._own_representation(task, dt, creator)
        for c in extensions.task_create_fields():
            body[c.name] = c.read(task)
        return body

    def _own_representation(self, task: Task, dt, creator) -> dict[str, Any]:
        return {
            "id": str(task.pk), "title": task.title, "task_type": task.task_type.key,
            "priority": Priority(task.priority).key, "status": str(task.status),
            "payload": task.payload, "result": task.result, "error": task.error,
            "progress": task.progress, "estimated_completion": dt(task.estimated_completion),
            "assignee": self.get_assignee(task),
            "created_by": None if creator is None else creator.username,
            "reference": task.reference, "labels": task.labels,
            "idempotency_key": task.idempotency_key, "run_at": dt(task.run_at),
            "due_at": dt(task.due_at), "attempts": task.attempts, "parent": task.parent_id,
            "shard_index": task.shard_index, "shard_count": task.shard_count,
            "depends_on": self.get_depends_on(task),
            "allowed_transitions": self.get_allowed_transitions(task),
            "created_at": dt(task.created_at), "updated_at": dt(task.updated_at),
            "queued_at": dt(task.queued_at), "assigned_at": dt(task.assigned_at),
            "started_at": dt(task.started_at), "finished_at": dt(task.finished_at),
        }

    @extend_schema_field(AssigneeSerializer(allow_null=True))
    def get_assignee(self, task: Task):
        if task.assignee_unit_id is not None:
            unit = task.assignee_unit  # joined by the selector
            return {"kind": "unit", "id": unit.unit_id, "user_id": None,
                    "name": unit.name or unit.unit_id}
        user = task.assignee_user
        if user is None:
            return None
        name = user.get_full_name() or user.username
        staff = getattr(user, "staff", None)  # joined by the selector: no query here
        if staff is None:  # an operator holding a task by hand
            return {"kind": "user", "id": user.pk, "user_id": user.pk, "name": name}
        return {"kind": "staff", "id": staff.pk, "user_id": user.pk, "name": name}

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_depends_on(self, task: Task):
        known = getattr(task, "depends_on_ids", None)  # set on a task just created
        if known is not None:
            return known
        return [str(dep.pk) for dep in task.depends_on.all()]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_allowed_transitions(self, task: Task):
        from ..policies import API_ACTIONS

        return allowed_actions(task=task, among=API_ACTIONS)


def _caller(context: dict):
    request = context.get("request")
    return None if request is None else request.user


class TaskDetailListSerializer(TaskListSerializer):
    """Many tasks shown for their work (a unit's claim): each app's detail values read in one
    query for the lot."""

    def to_representation(self, data):
        tasks = list(data.all() if hasattr(data, "all") else data)
        extensions.load_task_detail_fields(tasks, user=_caller(self.context))
        return super().to_representation(tasks)


class TaskDetailSerializer(TaskSerializer):
    """A task shown to whoever works on it (its detail, a unit's claim): the task, and what
    other apps add for that work (apps.tasks.extensions.TaskDetailField), e.g. a workflow
    task's `inputs`."""

    class Meta(TaskSerializer.Meta):
        list_serializer_class = TaskDetailListSerializer

    def get_fields(self):
        fields = super().get_fields()
        for c in extensions.task_detail_fields():
            fld = c.schema_field()
            fld.get_attribute = c.read
            fields[c.name] = fld
        return fields

    def to_representation(self, task: Task) -> dict[str, Any]:
        if not isinstance(self.parent, TaskDetailListSerializer):  # one task: load it here
            extensions.load_task_detail_fields([task], user=_caller(self.context))
        body = super().to_representation(task)
        for c in extensions.task_detail_fields():
            body[c.name] = c.read(task)
        return body


class TaskCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    """One task to create. Task types and dependencies are looked up once per request
    (see TaskCreateContext), never once per item."""

    title = serializers.CharField(max_length=300)
    task_type = serializers.CharField(max_length=100)
    priority = PriorityField(required=False)
    payload = JSONObjectField(required=False, default=dict)
    reference = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    labels = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list, max_length=50
    )
    run_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    due_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    depends_on = serializers.ListField(
        child=serializers.UUIDField(), required=False, default=list, max_length=100
    )
    idempotency_key = serializers.CharField(
        max_length=200, required=False, allow_null=True, default=None
    )
    parent = serializers.UUIDField(required=False, allow_null=True, default=None)
    shard_count = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=MAX_SHARDS,
        help_text="Split the task into this many shards, spread over the execution units of "
                  "its type (a unit type only); the task completes when every shard has.")
    draft = serializers.BooleanField(required=False, default=False)

    def get_fields(self):
        # Fields other apps add to a create (apps.tasks.extensions), e.g. a callback URL.
        fields = super().get_fields()
        for c in extensions.task_create_fields():
            fields[c.name] = c.field()
        return fields

    def validate_task_type(self, value):
        task_type = self.context["task_types"].get(value)
        if task_type is None:
            raise serializers.ValidationError(f"Unknown or inactive task type {value!r}.")
        return task_type

    def validate_depends_on(self, value):
        visible = self.context["visible_ids"]
        missing = [str(v) for v in value if v not in visible]
        if missing:
            raise serializers.ValidationError(f"Unknown tasks: {', '.join(missing)}.")
        return list(dict.fromkeys(value))

    def validate_parent(self, value):
        if value is not None and value not in self.context["visible_ids"]:
            raise serializers.ValidationError(f"Unknown task {value}.")
        return value

    def validate(self, attrs):
        run_at, due_at = attrs.get("run_at"), attrs.get("due_at")
        if due_at and run_at and due_at < run_at:
            raise serializers.ValidationError({"due_at": ["Must not be before run_at."]})
        if attrs.get("shard_count") is not None:
            if attrs["task_type"].assignee_kind != AssigneeKind.UNIT:
                raise serializers.ValidationError({"shard_count": [
                    "Only a task done by execution units is split into shards."]})
            if attrs.get("parent") is not None:
                raise serializers.ValidationError({"shard_count": [
                    "A task with a parent is not split again."]})
        return attrs

    def to_spec(self, attrs=None) -> TaskSpec:
        a = attrs if attrs is not None else self.validated_data
        return TaskSpec(
            title=a["title"], task_type=a["task_type"], priority=a.get("priority"),
            payload=a["payload"], reference=a["reference"], labels=a["labels"],
            run_at=a["run_at"], due_at=a["due_at"], depends_on=a["depends_on"],
            idempotency_key=a["idempotency_key"], parent_id=a["parent"],
            shard_count=a.get("shard_count"), draft=a["draft"],
            extras={c.name: a[c.name] for c in extensions.task_create_fields()
                    if a.get(c.name) is not None},
        )


# What plain_spec accepts without the serializer: the fields and the checks of
# TaskCreateSerializer for the values clients usually send.
_PLAIN_FIELDS = frozenset({"title", "task_type", "priority", "payload", "reference", "labels",
                           "run_at", "due_at", "idempotency_key", "draft", "depends_on",
                           "parent"})
_PRIORITY_VALUES = {name: int(Priority.from_name(name)) for name in PRIORITY_NAMES}


def _plain_text(value: Any, max_length: int, *, blank: bool = False) -> bool:
    # What CharField accepts unchanged: a string with no surrounding whitespace (it would be
    # trimmed), within the length, empty only where blank is allowed. NULs and lone
    # surrogates never get here (apps.core.parsers refuses them).
    return (isinstance(value, str) and len(value) <= max_length and value == value.strip()
            and (blank or value != ""))


def plain_spec(item: Any, task_types: dict[str, TaskType]) -> TaskSpec | None:
    """The TaskSpec TaskCreateSerializer would make of `item`, when `item` is plain; None
    when it is not (or is invalid), and the serializer must decide.

    Plain: known fields only, strings that need no trimming, priority as a name, a payload
    object, labels as strings, no dependencies and no parent, `draft` a boolean, and the
    dates (if any) in order. That covers what clients send in bulk, and skips building a
    serializer tree per item (most of a batch's CPU). Anything else goes through the
    serializer, so errors and edge cases answer exactly as before; tests hold the two equal.
    """
    if not isinstance(item, dict) or not _PLAIN_FIELDS.issuperset(item):
        return None
    get = item.get
    title, key = get("title"), get("task_type")
    if not _plain_text(title, 300) or not _plain_text(key, 100):
        return None
    task_type = task_types.get(key)
    if task_type is None:
        return None
    priority = get("priority")
    if priority is not None:
        priority = _PRIORITY_VALUES.get(priority) if isinstance(priority, str) else None
        if priority is None:
            return None
    elif "priority" in item:
        return None  # null is not a priority: the serializer says so
    payload = get("payload", {})
    reference = get("reference", "")
    labels = get("labels", [])
    key_ = get("idempotency_key")
    draft = get("draft", False)
    if (not isinstance(payload, dict) or not _plain_text(reference, 200, blank=True)
            or not isinstance(labels, list) or len(labels) > 50
            or not all(_plain_text(label, 100) for label in labels)
            or (key_ is not None and not _plain_text(key_, 200))
            or not isinstance(draft, bool)
            or get("depends_on", []) != [] or get("parent") is not None):
        return None
    try:
        run_at = _DATETIME_IN.run_validation(get("run_at"))
        due_at = _DATETIME_IN.run_validation(get("due_at"))
    except serializers.ValidationError:
        return None
    if run_at and due_at and due_at < run_at:
        return None
    return TaskSpec(
        title=title, task_type=task_type, priority=priority, payload=payload,
        reference=reference, labels=labels, run_at=run_at, due_at=due_at, depends_on=[],
        idempotency_key=key_, parent_id=None, draft=draft,
    )


# Parses dates as TaskCreateSerializer's run_at / due_at do (null allowed).
_DATETIME_IN = serializers.DateTimeField(allow_null=True, required=False)


def plain_specs(data: Any, task_types: dict[str, TaskType]) -> list[TaskSpec] | None:
    """plain_spec for every item of a batch body, or None if one of them (or the body) needs
    TaskBatchSerializer: not a list of 1..TASK_BATCH_MAX items, or a repeated idempotency key.
    """
    items = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(items, list) or not 0 < len(items) <= settings.TASK_BATCH_MAX:
        return None
    specs = []
    keys = set()
    for item in items:
        spec = plain_spec(item, task_types)
        if spec is None:
            return None
        if spec.idempotency_key is not None:
            if spec.idempotency_key in keys:
                return None
            keys.add(spec.idempotency_key)
        specs.append(spec)
    return specs


class TaskBatchSerializer(serializers.Serializer):
    tasks = TaskCreateSerializer(many=True, allow_empty=False, max_length=settings.TASK_BATCH_MAX)

    def validate_tasks(self, items):
        seen: dict[str, int] = {}
        errors: dict[int, dict] = {}  # by index, as DRF reports item errors
        for index, item in enumerate(items):
            key = item.get("idempotency_key")
            if key is None:
                continue
            if key in seen:
                errors[index] = {"idempotency_key": [f"Repeats item {seen[key]}."]}
            seen.setdefault(key, index)
        if errors:
            raise serializers.ValidationError(errors)
        return items


class TaskBatchItemResultSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=TaskStatus.choices)
    created = serializers.BooleanField(help_text="False when its idempotency key found a task.")


class TaskBatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="How many tasks this call created.")
    tasks = TaskBatchItemResultSerializer(many=True, help_text="In the order they were sent.")


class TaskUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    title = serializers.CharField(max_length=300, required=False)
    priority = PriorityField(required=False)
    payload = JSONObjectField(required=False)
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True)
    labels = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=50
    )
    due_at = serializers.DateTimeField(required=False, allow_null=True)


class TransitionSerializer(StrictFieldsMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)
    # Any JSON value; null (as when left out) is no result.
    result = serializers.JSONField(required=False, default=None, allow_null=True)
    error = serializers.CharField(max_length=10000, required=False, default="", allow_blank=True)
    retryable = serializers.BooleanField(
        required=False, default=True,
        help_text="fail: false ends the task failed at once, whatever retries remain.")


class StatusChangeSerializer(StrictFieldsMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=TaskStatus.choices)
    reason = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)
    # Any JSON value; null (as when left out) is no result.
    result = serializers.JSONField(required=False, default=None, allow_null=True)
    error = serializers.CharField(max_length=10000, required=False, default="", allow_blank=True)


class ProgressSerializer(StrictFieldsMixin, serializers.Serializer):
    progress = serializers.IntegerField(min_value=0, max_value=100)
    estimated_completion = serializers.DateTimeField(required=False, allow_null=True, default=None)


class TaskHistorySerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = TaskHistory
        fields = ["id", "transition", "from_status", "to_status", "actor", "reason", "created_at"]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_actor(self, row: TaskHistory):
        return {"kind": row.actor_kind, "id": row.actor_user_id, "name": row.actor_name}


class TaskLogSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    level = serializers.ChoiceField(choices=LogLevel.choices, default=LogLevel.INFO)

    class Meta:
        model = TaskLog
        fields = ["id", "attempt", "level", "message", "created_at"]
        read_only_fields = ["id", "attempt", "created_at"]
        extra_kwargs = {"message": {"max_length": 10000}}


class TaskLogBatchSerializer(serializers.Serializer):
    lines = TaskLogSerializer(many=True, allow_empty=False, max_length=1000)
