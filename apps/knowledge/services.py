"""Every write of the knowledge base: adding a document (with its processing task) and
storing the chunks a unit made of it."""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from taskmanage_client.pipeline import DIM, SUPPORTED_TYPES, DocumentError
from taskmanage_client.pipeline import validate as validate_document
from taskmanage_client.pipeline.parse import UNSTORABLE, media_type

from apps.core.actors import Actor
from apps.core.exceptions import Conflict, InvalidInput, PermissionDenied
from apps.tasks.models import Task
from apps.tasks.selectors import active_task_types
from apps.tasks.services import TaskSpec, task_create
from apps.tasks.states import TaskStatus

from .models import Chunk, Document

MIN_CHUNK_SIZE = 20
REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}")
TITLE_MAX = 200


@dataclass(frozen=True)
class ChunkIn:
    index: int
    text: str
    embedding: Sequence[float]


def content_url(*, document_id: uuid.UUID) -> str:
    """Where a unit fetches the bytes: a path on the API it already talks to."""
    return f"/api/v1/knowledge/documents/{document_id}/content"


def document_add(*, name: str, content: bytes, content_type: str, reference: str,
                 chunk_size: int, chunk_overlap: int, by: Actor) -> Document:
    """Keep the document and create the task that processes it, both or neither."""
    kind = _checked(name=name, content=content, content_type=content_type,
                    reference=reference, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    task_type = active_task_types(keys=[settings.KNOWLEDGE_TASK_TYPE]).get(
        settings.KNOWLEDGE_TASK_TYPE)
    if task_type is None:
        raise Conflict(f"there is no active task type {settings.KNOWLEDGE_TASK_TYPE!r} to "
                       "process documents (KNOWLEDGE_TASK_TYPE); an admin creates it")
    doc_id = uuid.uuid4()
    payload = {"document_id": str(doc_id), "content_url": content_url(document_id=doc_id),
               "chunk_size": chunk_size, "chunk_overlap": chunk_overlap,
               "content_type": kind, "name": name}
    spec = TaskSpec(title=f"Process {name}"[:TITLE_MAX], task_type=task_type,
                    reference=reference, payload=payload, labels=["kb"])
    with transaction.atomic():
        task, _ = task_create(spec=spec, by=by)
        return Document.objects.create(
            id=doc_id, reference=reference, name=name, content_type=kind, size=len(content),
            sha256=hashlib.sha256(content).hexdigest(), content=content,
            chunk_size=chunk_size, chunk_overlap=chunk_overlap, task=task,
            created_by=by.user if by.kind == "user" else None,
        )


def _checked(*, name, content, content_type, reference, chunk_size, chunk_overlap) -> str:
    """The document's media type, once every field is acceptable; else an InvalidInput
    naming each field at fault."""
    errors: dict[str, list[str]] = {}
    if not name or len(name) > 255 or UNSTORABLE.search(name):
        errors["name"] = ["A name of 1 to 255 characters, with no NUL or lone surrogate."]
    if not isinstance(reference, str) or not REFERENCE.fullmatch(reference):
        errors["reference"] = ["A knowledge-base id such as kb-1: letters, digits and . _ : / -"
                               ", up to 200 characters."]
    size_error = _chunking_errors(chunk_size, chunk_overlap, len(content))
    errors.update(size_error)
    kind = ""
    if media_type(content_type)[0] not in SUPPORTED_TYPES:
        errors["content_type"] = [f"Unsupported type {content_type or '(none)'!r}; supported: "
                                  + ", ".join(SUPPORTED_TYPES) + "."]
    else:
        try:
            kind = validate_document(content, content_type,
                                     max_bytes=settings.KNOWLEDGE_MAX_DOCUMENT_BYTES)
        except DocumentError as exc:
            errors["file"] = [f"{str(exc).capitalize()}."]
    if errors:
        raise InvalidInput("The document cannot be added.", fields=errors)
    return kind


def _chunking_errors(chunk_size, chunk_overlap, size: int) -> dict[str, list[str]]:
    most = settings.KNOWLEDGE_MAX_CHUNK_SIZE
    if not isinstance(chunk_size, int) or not MIN_CHUNK_SIZE <= chunk_size <= most:
        return {"chunk_size": [f"Between {MIN_CHUNK_SIZE} and {most} characters."]}
    if not isinstance(chunk_overlap, int) or not 0 <= chunk_overlap < chunk_size:
        return {"chunk_overlap": ["At least 0 and smaller than chunk_size."]}
    # Text has at most as many characters as the file has bytes: an upper bound, so a
    # document refused here could never have been stored.
    estimate = math.ceil(size / (chunk_size - chunk_overlap))
    if estimate > settings.KNOWLEDGE_MAX_CHUNKS:
        return {"chunk_size": [f"Too small for a document of {size} bytes: it could make "
                               f"{estimate} chunks, more than {settings.KNOWLEDGE_MAX_CHUNKS}."]}
    return {}


def chunks_may_store(*, document: Document, by: Actor) -> None:
    """Refuse (403) a caller that is not a unit, or a unit that never held the document's
    task; whether it holds it *now* is decided under the lock by `chunks_store` (409)."""
    _may_store(document.task, by)


def _may_store(task: Task | None, by: Actor) -> None:
    if by.kind != "unit":
        raise PermissionDenied("Only the execution unit processing the document stores chunks.")
    if task is None or not (task.assignee_unit_id == by.ref or _once_held(task, by)):
        raise PermissionDenied(f"{by.name} does not process this document.")


def _once_held(task: Task, by: Actor) -> bool:
    return task.history.filter(actor_kind="unit", actor_name=by.name).exists()


def chunks_store(*, document: Document, task: Task, chunks: Sequence[ChunkIn],
                 by: Actor) -> int:
    """Replace the document's chunks with these, in one transaction: a retried store writes
    the same rows once. Only the unit running the document's task may; one that held it and
    lost it (lease expired, cancelled) gets a Conflict and writes nothing."""
    if document.task_id is None or task.pk != document.task_id:
        raise InvalidInput.on("task_id", "Not this document's processing task.")
    _check_chunks(chunks)
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk)
        _may_store(locked, by)
        if locked.assignee_unit_id != by.ref or locked.status != TaskStatus.RUNNING:
            raise Conflict(f"{by.name} no longer holds this task (it is {locked.status})",
                           current=locked.status, allowed=[])
        Chunk.objects.filter(document_id=document.pk).delete()
        Chunk.objects.bulk_create(
            [Chunk(document_id=document.pk, reference=document.reference, index=c.index,
                   text=c.text, embedding=[float(v) for v in c.embedding]) for c in chunks],
            batch_size=500,
        )
    return len(chunks)


def _check_chunks(chunks: Sequence[ChunkIn]) -> None:
    if len(chunks) > settings.KNOWLEDGE_MAX_CHUNKS:
        raise InvalidInput.on("chunks", f"At most {settings.KNOWLEDGE_MAX_CHUNKS} chunks.")
    indexes = sorted(c.index for c in chunks)
    if indexes != list(range(len(chunks))):
        raise InvalidInput.on("chunks", "Indexes must be 0, 1, 2… each once.")
    for c in chunks:
        if len(c.embedding) != DIM:
            raise InvalidInput.on("chunks", f"Chunk {c.index}: an embedding has {DIM} numbers.")
