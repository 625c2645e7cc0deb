"""The demo ships documents for the pipeline; `kb_search` prints what search finds."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from taskmanage_client.pipeline import embed

from apps.knowledge.models import Chunk, Document
from apps.knowledge.services import ChunkIn, chunks_store
from apps.tasks.models import Task
from tests.knowledge.conftest import add, claim, register

pytestmark = pytest.mark.django_db


def test_the_demo_adds_each_shipped_document_with_its_processing_task(olga):
    call_command("demo_data", "--if-empty", stdout=StringIO())

    docs = Document.objects.select_related("task").order_by("reference")
    assert [(d.reference, d.name) for d in docs] == [
        ("kb-1", "approvals.html"), ("kb-2", "execution-units.md"),
        ("kb-3", "knowledge-base.pdf"), ("kb-4", "taskmanage-overview.txt")]
    for doc in docs:
        assert doc.task.status == "queued" and doc.task.reference == doc.reference
        assert doc.task.task_type.key == "document_processing"
        assert doc.task.payload["document_id"] == str(doc.pk)
    assert Task.objects.get(reference="kb-old").status == "cancelled"


def _processed(doc, texts, unit):
    task = Task.objects.get(pk=doc.task_id)
    chunks_store(document=doc, task=task, by=unit,
                 chunks=[ChunkIn(index=i, text=t, embedding=embed(t))
                         for i, t in enumerate(texts)])


def test_kb_search_prints_the_nearest_chunks_best_first(alice, processing):
    from apps.execution.services import unit_actor

    leases = add(alice, name="units.txt", reference="kb-1")
    money = add(alice, name="invoices.txt", reference="kb-2")
    unit, token = register("worker-001")
    claim(token, "worker-001")
    _processed(leases, ["Units claim tasks under a lease."], unit_actor(unit=unit))
    _processed(money, ["Invoice reviews need a manager's approval."], unit_actor(unit=unit))
    assert Chunk.objects.count() == 2

    out = StringIO()
    call_command("kb_search", "invoice approval", "--limit", "2", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("1. ") and "invoices.txt [kb-2] chunk 0" in lines[0]
    assert "Invoice reviews need" in lines[1]
    assert "units.txt [kb-1]" in lines[2]

    out = StringIO()
    call_command("kb_search", "invoice approval", "--reference", "kb-1", stdout=out)
    assert "invoices.txt" not in out.getvalue() and "units.txt" in out.getvalue()


def test_kb_search_says_when_nothing_matches_and_refuses_a_bad_limit():
    out = StringIO()
    call_command("kb_search", "anything", stdout=out)
    assert "No chunk matches" in out.getvalue()
    with pytest.raises(CommandError, match="--limit"):
        call_command("kb_search", "anything", "--limit", "0")
