"""Demo data for a first look: a few task types and tasks in several states."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.core.actors import Actor
from apps.tasks import services
from apps.tasks.models import Task, TaskType
from apps.tasks.states import AssigneeKind, Priority

TASK_TYPES = [
    {"key": "document_processing", "name": "Document processing",
     "assignee_kind": AssigneeKind.UNIT, "max_retries": 3, "timeout": 600},
    {"key": "invoice_review", "name": "Invoice review", "requires_completion_approval": True,
     "priority": Priority.HIGH},
    {"key": "customer_callback", "name": "Customer callback", "capacity_weight": 1},
    {"key": "data_migration", "name": "Data migration", "requires_creation_approval": True,
     "capacity_weight": 3},
]


class Command(BaseCommand):
    help = "Load demo task types and tasks."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true",
                            help="Do nothing when any task type already exists.")

    def handle(self, *args, if_empty: bool, **options):
        if if_empty and TaskType.objects.exists():
            self.stdout.write("Demo data: the database already has data, nothing loaded.")
            return
        with transaction.atomic():
            created = self._load()
        self.stdout.write(self.style.SUCCESS(f"Demo data: {created} tasks loaded."))

    def _load(self) -> int:
        types = {}
        for spec in TASK_TYPES:
            types[spec["key"]], _ = TaskType.objects.get_or_create(
                key=spec["key"], defaults={k: v for k, v in spec.items() if k != "key"})
        owner = get_user_model().objects.filter(is_superuser=True).first()
        by = Actor.for_user(owner) if owner else Actor.system("demo")
        specs = [
            services.TaskSpec(title=f"Index knowledge base {n}", reference=f"kb-{n}",
                              task_type=types["document_processing"], labels=["kb"])
            for n in range(1, 6)
        ]
        specs += [
            services.TaskSpec(title="Review invoice 2026-114", task_type=types["invoice_review"]),
            services.TaskSpec(title="Call back ACME about renewal",
                              task_type=types["customer_callback"],
                              run_at=timezone.now() + timedelta(minutes=10)),
            services.TaskSpec(title="Move ledger to new schema", task_type=types["data_migration"]),
        ]
        _, created = services.tasks_create_batch(specs=specs, by=by)
        services.task_transition(task_id=created[0].pk, action="cancel", by=by,
                                 reason="demo: a cancelled task")
        return Task.objects.count()
