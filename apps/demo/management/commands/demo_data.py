"""Demo data for a first look: skills, a team of staff, task types, tasks, schedules and a
workflow.

It spans the apps on purpose (a first `make run` should show work being assigned), so it
lives in its own app (apps.demo), above all the others, rather than in any one of them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.assignment.services import assign_queued
from apps.core.actors import Actor
from apps.knowledge.services import document_add
from apps.schedules.services import schedule_create
from apps.staff.models import Skill, Team
from apps.staff.services import skill_create, staff_create, team_create
from apps.tasks import services
from apps.tasks.models import Task, TaskType
from apps.tasks.states import AssigneeKind, Priority
from apps.workflows.services import NodeSpec, workflow_create

DOCUMENTS = Path(__file__).resolve().parents[2] / "documents"
DOCUMENT_TYPES = {".txt": "text/plain", ".md": "text/markdown", ".html": "text/html",
                  ".pdf": "application/pdf"}
TEAM = [  # username, capacity, seniority, skills
    ("demo-ann", 3, 4, {"phone": 4, "accounting": 5}),
    ("demo-ben", 3, 2, {"phone": 5, "sql": 3}),
    ("demo-cat", 2, 3, {"accounting": 3, "sql": 5}),
]
REQUIRED = {"invoice_review": {"accounting": 3}, "customer_callback": {"phone": 3},
            "data_migration": {"sql": 4}}

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
        # Through the services, as an operator would make them: each type gets its
        # assignment policy and required skills by the same path as from the API.
        owner = get_user_model().objects.filter(is_superuser=True).first()
        by = Actor.for_user(owner) if owner else Actor.system("demo")
        team = self._team()
        types = {}
        for spec in TASK_TYPES:
            skills = [(_skill(n), lv) for n, lv in REQUIRED.get(spec["key"], {}).items()]
            types[spec["key"]] = (TaskType.objects.filter(key=spec["key"]).first()
                                  or services.task_type_create(by=by, **spec,
                                                               required_skills=skills))
        # Cancelled below, before any unit sees it: the demo's cancelled task.
        specs = [services.TaskSpec(title="Index the old wiki", reference="kb-old",
                                   task_type=types["document_processing"], labels=["kb"])]
        # A sharded one: four shards a unit takes, and the parent that joins them. Its
        # payload names the reference unit's `sleep` handler (shards copy it): there is no
        # document behind it for the document pipeline to process.
        specs.append(services.TaskSpec(title="Sharded demo: four shards that pause 2 s each",
                                       reference="kb-all", labels=["kb"], shard_count=4,
                                       payload={"handler": "sleep", "seconds": 2},
                                       task_type=types["document_processing"]))
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
        self._documents(by)
        self._schedules(types["document_processing"], by)
        self._workflow(types["document_processing"], by)
        assign_queued()
        self.stdout.write(f"Demo team {team.name}: " + ", ".join(u for u, *_ in TEAM)
                          + " (no passwords yet: `make manage ARGS=set_demo_passwords` sets them)")
        return Task.objects.count()

    def _documents(self, by: Actor) -> None:
        """The shipped documents, each in its knowledge base (kb-1…), through the same
        service as an upload: each gets its processing task, which the reference unit runs."""
        for n, path in enumerate(sorted(DOCUMENTS.iterdir()), 1):
            document_add(name=path.name, content=path.read_bytes(),
                         content_type=DOCUMENT_TYPES[path.suffix], reference=f"kb-{n}",
                         chunk_size=400, chunk_overlap=60, by=by)

    def _schedules(self, kind: TaskType, by: Actor) -> None:
        # One that fires while a first look lasts, one by the clock in a named zone.
        schedule_create(by=by, fields={
            "name": "Tidy the index", "task_type": kind, "title": "Tidy the index at {planned}",
            "payload": {"handler": "noop"}, "interval_seconds": 900, "overlap": "skip"})
        schedule_create(by=by, fields={
            "name": "Nightly wiki export", "task_type": kind,
            "title": "Export the wiki for {planned:%Y-%m-%d}", "payload": {"handler": "noop"},
            "cron": "30 2 * * *", "timezone": "Europe/Paris"})

    def _workflow(self, kind: TaskType, by: Actor) -> None:
        # Each step pauses a second in the reference unit, so its graph can be watched
        # filling in on /workflows/.
        def step(key: str, title: str) -> NodeSpec:
            return NodeSpec(key=key, spec=services.TaskSpec(
                title=title, task_type=kind, payload={"handler": "sleep", "seconds": 1}))

        workflow_create(by=by, name="Publish the handbook", on_failure="cancel_downstream",
                        nodes=[step("extract", "Extract the chapters"),
                               step("spellcheck", "Check the spelling"),
                               step("translate", "Translate to French"),
                               step("assemble", "Assemble the book"),
                               step("publish", "Publish it")],
                        edges=[("extract", "spellcheck"), ("extract", "translate"),
                               ("spellcheck", "assemble"), ("translate", "assemble"),
                               ("assemble", "publish")])

    def _team(self) -> Team:
        team = (Team.objects.filter(name="Demo operations").first()
                or team_create(name="Demo operations"))
        User = get_user_model()
        for username, capacity, seniority, skills in TEAM:
            if User.objects.filter(username=username).exists():
                continue
            staff_create(
                username=username, password=None, team=team, capacity=capacity,
                seniority=seniority,
                skills=[(_skill(n), lv) for n, lv in skills.items()],
            )
        return team


def _skill(name: str) -> Skill:
    return Skill.objects.filter(name=name).first() or skill_create(name=name)
