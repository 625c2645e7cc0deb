"""Reads of the knowledge base: who sees which document, and the search."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db.models import Count, QuerySet
from taskmanage_client.pipeline import embed

from apps.accounts.roles import sees_all_tasks
from apps.tasks.selectors import tasks_visible_to

from .models import Chunk, Document


def documents_visible_to(*, user) -> QuerySet[Document]:
    """Who may see a document's processing task may see the document (admins and managers
    every document, tasks gone included); without its bytes, which only `content` serves."""
    return (_visible(Document.objects.defer("content"), user=user)
            .select_related("task", "created_by").annotate(chunk_count=Count("chunks"))
            .order_by("-created_at", "id"))


def _visible(documents: QuerySet[Document], *, user) -> QuerySet[Document]:
    if sees_all_tasks(user):
        return documents
    return documents.filter(task__in=tasks_visible_to(user=user).values("pk"))


@dataclass(frozen=True)
class Hit:
    document: str
    name: str
    reference: str
    index: int
    text: str
    score: float


def kb_search(*, query: str, user=None, reference: str | None = None,
              limit: int = 5) -> list[Hit]:
    """The chunks nearest the query by cosine similarity, best first, among the documents
    `user` may see (None: all of them, for an operator's command): a search must not show a
    document's text to someone its page would refuse.

    The query is embedded by the very function the units embed chunks with
    (taskmanage_client.pipeline.embed), so both are in one space. Without pgvector the
    ranking is done here: every candidate chunk's vector is read (one query, 256 floats a
    chunk) and scored with one matrix product, O(chunks × 256): milliseconds for the demo's
    hundreds of chunks, and about 20 MB read per search at 10,000 chunks, where an index
    (pgvector's HNSW) would be the next step.
    """
    vector = np.asarray(embed(query), dtype=np.float64)
    if not vector.any():
        return []
    candidates = Chunk.objects.order_by("pk")
    if user is not None:
        candidates = candidates.filter(
            document__in=_visible(Document.objects.all(), user=user).values("pk"))
    if reference:
        candidates = candidates.filter(reference=reference)
    rows = list(candidates.values_list("pk", "embedding"))
    if not rows:
        return []
    matrix = np.asarray([r[1] for r in rows], dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1)
    scores = (matrix @ vector) / np.where(norms == 0, 1.0, norms)
    best = np.argsort(-scores, kind="stable")[:limit]
    chosen = {c.pk: c for c in Chunk.objects.select_related("document").only(
        "pk", "index", "text", "reference", "document__id", "document__name"
    ).filter(pk__in=[rows[i][0] for i in best])}
    return [_hit(chosen[rows[i][0]], float(scores[i])) for i in best]


def _hit(chunk: Chunk, score: float) -> Hit:
    return Hit(document=str(chunk.document.id), name=chunk.document.name,
               reference=chunk.reference, index=chunk.index, text=chunk.text,
               score=round(score, 6))
