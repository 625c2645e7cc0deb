"""`manage.py kb_search "query" [--reference kb-1] [--limit 5]`: the nearest chunks."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.knowledge.selectors import kb_search


class Command(BaseCommand):
    help = "Print the knowledge-base chunks nearest a query, best first."

    def add_arguments(self, parser):
        parser.add_argument("query")
        parser.add_argument("--reference", help="Only this knowledge base (e.g. kb-1).")
        parser.add_argument("--limit", type=int, default=5)

    def handle(self, *args, query: str, reference: str | None, limit: int, **options):
        if not 1 <= limit <= 50:
            raise CommandError("--limit is between 1 and 50")
        hits = kb_search(query=query, reference=reference, limit=limit)
        if not hits:
            self.stdout.write("No chunk matches (is the knowledge base processed yet?).")
        for rank, hit in enumerate(hits, 1):
            self.stdout.write(f"{rank}. {hit.score:.3f}  {hit.name} [{hit.reference}] "
                              f"chunk {hit.index}")
            self.stdout.write("   " + hit.text[:200].replace("\n", " "))
