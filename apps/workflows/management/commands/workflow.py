"""`python manage.py workflow show ID`: a workflow as text, one line per node."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.workflows.models import Workflow
from apps.workflows.selectors import progress_of, status_of, with_counts, workflow_graph


class Command(BaseCommand):
    help = "Show a workflow: its status, progress, and each node with what it waits for."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        show = sub.add_parser("show", help="print the workflow ID as text")
        show.add_argument("id", type=int)

    def handle(self, *args, **options):
        workflow = with_counts(qs=Workflow.objects.filter(pk=options["id"])).first()
        if workflow is None:
            raise CommandError(f"No workflow {options['id']}.")
        progress, status = progress_of(workflow=workflow), status_of(workflow=workflow)
        self.stdout.write(f"workflow {workflow.pk} {workflow.name!r}: {status}, "
                          f"{progress['done']}/{progress['total']} done, "
                          f"on failure: {workflow.on_failure}")
        nodes, _ = workflow_graph(workflow=workflow)
        width = max(len(n.key) for n in nodes) if nodes else 0
        for n in nodes:
            waits = f"waits for {', '.join(n.waits_for)}" if n.waits_for else (
                f"after {', '.join(n.depends_on)}" if n.depends_on else "no dependencies")
            self.stdout.write(f"  {n.key:<{width}}  {n.task.status:<16} {n.task.pk}  {waits}")
