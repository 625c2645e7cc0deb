"""The `document_processing` handler: validate → convert → chunk → embed → store → index.

Registered in the reference unit's registry on import (`taskmanage_client.unit` imports it,
or `--import taskmanage_client.pipeline.handler`). The payload is what the server's
`document_add` wrote: document_id, content_url, chunk_size, chunk_overlap, content_type,
name. Each stage reports its progress with one message (the task's log line for the stage)
that estimates the time left; a cancel is honoured between stages (and between embedding
batches).
"""

from __future__ import annotations

import re
import time
from typing import Any

from ..errors import Conflict, NotFound, PermissionDenied, TaskManageError, ValidationError
from ..unit.handlers import Cancelled, Fatal, Job, Retryable, handler
from .chunk import chunk_text
from .embed import DIM, embed
from .parse import DocumentError, to_text, validate

# Where each stage ends, in percent of the whole (embedding is most of the work).
STAGE_END = {"validate": 5, "convert": 15, "chunk": 20, "embed": 80, "store": 95, "index": 100}
# Only the server's own content path: a payload naming another host would get the unit's
# token sent there.
CONTENT_PATH = re.compile(r"/api/v1/knowledge/documents/[0-9a-f-]{36}/content")
EMBED_BATCH = 64
clock = time.monotonic  # the estimate's clock (a test replaces it)


class Stages:
    """Progress across the stages, with the time left estimated from the time spent."""

    def __init__(self, job: Job) -> None:
        self.job, self.started = job, clock()

    def finish(self, stage: str, detail: str) -> None:
        """The stage's line (a progress message is also the task's log line, so one call
        does both), then a cancel check before the next stage begins."""
        pct = STAGE_END[stage]
        self.job.progress(pct, f"{stage}: {detail}{self.time_left(pct)}")
        self.job.raise_if_cancelled()

    def time_left(self, pct: float) -> str:
        elapsed = clock() - self.started
        left = elapsed * (100 - pct) / pct
        return f" (about {left:.0f} s left)" if left >= 1 else ""


@handler("document_processing")
def process_document(job: Job) -> dict[str, Any]:
    doc_id, url, size, overlap, content_type = _payload(job.payload)
    stages = Stages(job)

    content = _fetch(job, url)
    try:
        kind = validate(content, content_type)
    except DocumentError as exc:
        raise Fatal(f"validate: {exc}") from exc
    stages.finish("validate", f"{len(content)} bytes of {kind}")

    try:
        text = to_text(content, kind)
    except DocumentError as exc:
        raise Fatal(f"convert: {exc}") from exc
    stages.finish("convert", f"{len(text)} characters of text")

    chunks = chunk_text(text, size=size, overlap=overlap)
    stages.finish("chunk", f"{len(chunks)} chunks of at most {size} characters, "
                           f"overlap {overlap}")

    vectors = _embed_all(chunks, stages)
    stages.finish("embed", f"{len(vectors)} vectors of {DIM} dimensions")

    stored = _store(job, doc_id, chunks, vectors)
    stages.finish("store", f"{stored} chunks stored")

    # No separate index to build here: the chunks' vectors are searchable once stored (the
    # server ranks them itself, having no pgvector). This stage checks the server kept them.
    if stored != len(chunks):
        raise Retryable(f"index: the server kept {stored} of {len(chunks)} chunks")
    stages.finish("index", "searchable")
    return {"document_id": doc_id, "chunks": len(chunks), "characters": len(text),
            "embedding_dim": DIM}


def _payload(payload: dict[str, Any]) -> tuple[str, str, int, int, str]:
    doc_id, url = payload.get("document_id"), payload.get("content_url")
    if not isinstance(url, str) or not CONTENT_PATH.fullmatch(url):
        raise Fatal("payload.content_url: the server's document content path is required")
    if not isinstance(doc_id, str) or doc_id not in url:
        raise Fatal("payload.document_id: the id of the document content_url names")
    size, overlap = payload.get("chunk_size"), payload.get("chunk_overlap", 0)
    if not _whole(size) or size < 1:
        raise Fatal("payload.chunk_size: a whole number of characters, at least 1")
    if not _whole(overlap) or not 0 <= overlap < size:
        raise Fatal("payload.chunk_overlap: at least 0 and smaller than chunk_size")
    content_type = payload.get("content_type")
    if not isinstance(content_type, str):
        raise Fatal("payload.content_type: the document's media type is required")
    return doc_id, url, size, overlap, content_type


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fetch(job: Job, url: str) -> bytes:
    try:
        return job.client.request("GET", url).content
    except (PermissionDenied, NotFound, ValidationError) as exc:
        raise Fatal(f"fetch: {exc}") from exc
    except TaskManageError as exc:
        raise Retryable(f"fetch: {exc}") from exc


def _embed_all(chunks: list[str], stages: Stages) -> list[list[float]]:
    start, span = STAGE_END["chunk"], STAGE_END["embed"] - STAGE_END["chunk"]
    vectors: list[list[float]] = []
    for i, text in enumerate(chunks, 1):
        # Six decimals: the ranking is the same, the body to store half the size.
        vectors.append([round(v, 6) for v in embed(text)])
        if i % EMBED_BATCH == 0 and i < len(chunks):
            stages.job.raise_if_cancelled()
            stages.job.progress(start + span * i / len(chunks))  # no message: no log line
    return vectors


def _store(job: Job, doc_id: str, chunks: list[str], vectors: list[list[float]]) -> int:
    body = {"task_id": job.id, "chunks": [
        {"index": i, "text": text, "embedding": vector}
        for i, (text, vector) in enumerate(zip(chunks, vectors, strict=True))]}
    try:
        # PUT replaces the document's chunks: repeating it after a lost answer is harmless.
        response = job.client.request("PUT", f"/api/v1/knowledge/documents/{doc_id}/chunks",
                                      json=body)
    except Conflict as exc:
        raise Cancelled(job.id) from exc  # taken back from this unit: nothing to report
    except (PermissionDenied, NotFound, ValidationError) as exc:
        raise Fatal(f"store: {exc}") from exc
    except TaskManageError as exc:
        raise Retryable(f"store: {exc}") from exc
    return int(response.json().get("chunks", 0))
