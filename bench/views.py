"""Baselines the task API is measured against, served by the same server as the API.

`GET /bench/minimal` is the platform's floor: the smallest JSON view, through the same
middleware, server and threads, with no database.

`POST /bench/bare-create` authenticates the same bearer token, parses the same JSON, looks up
the task type and writes the same two rows (task + history) in one transaction as
`POST /api/v1/tasks`, with no DRF, no validation framework and no events. The gap between the
two is what the API layers cost.

Routed only by bench.urls (bench.settings, which the harness gives the server it starts): the
product's URLconf does not know them.
"""

from __future__ import annotations

import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.accounts.services import token_authenticate
from apps.tasks.models import Task, TaskHistory, TaskType
from apps.tasks.states import Priority, TaskStatus


@csrf_exempt  # bearer-token API call, no cookies
@require_POST
def bare_create(request: HttpRequest) -> JsonResponse:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    token = token_authenticate(raw=raw) if scheme.lower() == "bearer" else None
    if token is None:
        return JsonResponse({"detail": "Invalid, expired or revoked token."}, status=401)
    try:
        data = json.loads(request.body)
        task_type = TaskType.objects.filter(key=data["task_type"], is_active=True).first()
        priority = Priority.from_name(data["priority"]) if "priority" in data else None
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"detail": "Bad request."}, status=400)
    if task_type is None:
        return JsonResponse({"task_type": ["Unknown or inactive task type."]}, status=400)
    user, now = token.user, timezone.now()
    with transaction.atomic():
        task = Task.objects.create(
            title=data["title"], task_type=task_type,
            priority=task_type.priority if priority is None else priority,
            status=TaskStatus.QUEUED, payload=data.get("payload", {}),
            reference=data.get("reference", ""), labels=data.get("labels", []),
            created_by=user, created_at=now, updated_at=now, queued_at=now,
        )
        TaskHistory.objects.create(
            task=task, transition="create", from_status="", to_status=task.status,
            actor_kind="user", actor_user=user, actor_name=user.get_username()[:150],
            reason="submitted on creation", created_at=now,
        )
    return JsonResponse({"id": str(task.pk), "status": task.status}, status=201)


def minimal(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})  # what a request costs before any work is done

