"""The document_processing handler, run as the reference unit runs it, with the real client
against the real API (Django's WSGI application, in-process: the test's database)."""

from __future__ import annotations

import httpx
import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from taskmanage_client import Client
from taskmanage_client.pipeline import handler as _registers  # noqa: F401
from taskmanage_client.unit import Job, handlers
from taskmanage_client.unit.handlers import MemoryReporter, run_handler

from apps.knowledge.models import Chunk
from apps.knowledge.selectors import kb_search
from tests.builders import api_client
from tests.knowledge.conftest import DOCUMENTS, add, register

pytestmark = pytest.mark.django_db
TYPES = {".txt": "text/plain", ".md": "text/markdown", ".html": "text/html",
         ".pdf": "application/pdf"}


def in_test_transaction(app):
    """The WSGI app, its requests keeping the test's connection open (its transaction holds
    the test's rows), as Django's test client does for its own (and reconnects after)."""

    def call(environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        return app(environ, start_response)

    return call


@pytest.fixture
def unit():
    _, token = register("worker-001")
    client = Client("http://testserver", token=token, retries=0, transport=httpx.WSGITransport(
        app=in_test_transaction(get_wsgi_application())))
    yield client
    client.close()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def claimed_job(client: Client) -> Job:
    (task,) = client.claim("worker-001", max=1)
    return Job(task=task, client=client, reporter=MemoryReporter())


def process(client: Client) -> tuple[str, object, Job]:
    job = claimed_job(client)
    outcome, result = run_handler(handlers.get("document_processing"), job)
    return outcome, result, job


@pytest.mark.parametrize("path", sorted(DOCUMENTS.iterdir()), ids=lambda p: p.suffix)
def test_each_kind_of_document_is_processed_end_to_end(alice, processing, unit, path):
    doc = add(alice, path.read_bytes(), name=path.name, content_type=TYPES[path.suffix],
              chunk_size=300, chunk_overlap=50)

    outcome, result, job = process(unit)

    assert outcome == "completed", result
    stored = list(Chunk.objects.filter(document=doc).order_by("index"))
    assert result == {"document_id": str(doc.pk), "chunks": len(stored),
                      "characters": result["characters"], "embedding_dim": 256}
    assert len(stored) > 1 and all(len(c.text) <= 300 for c in stored)
    assert result["characters"] > 1000
    lines = [message for _, message in job.reporter.progresses if message]
    assert [line.split(":")[0] for line in lines] == [
        "validate", "convert", "chunk", "embed", "store", "index"]
    assert lines[-1] == "index: searchable"
    percents = [p for p, _ in job.reporter.progresses]
    assert percents == sorted(percents) and percents[-1] == 100


def test_a_long_stage_reports_the_time_left_and_embedding_progress(
        alice, processing, unit, monkeypatch):
    from taskmanage_client.pipeline import handler as pipeline

    clock = iter(range(0, 1000, 10))  # ten seconds pass between readings
    monkeypatch.setattr(pipeline, "clock", lambda: next(clock))
    add(alice, b"word " * 2000, chunk_size=50, chunk_overlap=0)  # 200 chunks

    outcome, _, job = process(unit)

    assert outcome == "completed"
    messages = [m for _, m in job.reporter.progresses if m]
    assert messages[0] == "validate: 10000 bytes of text/plain (about 190 s left)"
    assert [p for p, m in job.reporter.progresses if m is None] == [
        20 + 60 * 64 / 200, 20 + 60 * 128 / 200, 20 + 60 * 192 / 200]


def test_the_processed_document_is_what_search_finds(alice, processing, unit):
    for path in sorted(DOCUMENTS.iterdir()):
        add(alice, path.read_bytes(), name=path.name, content_type=TYPES[path.suffix])
        assert process(unit)[0] == "completed"

    assert kb_search(query="approval escalates to the manager")[0].name == "approvals.html"
    assert kb_search(query="heartbeat lease claim")[0].name == "execution-units.md"
    assert kb_search(query="cosine similarity of embeddings")[0].name == "knowledge-base.pdf"
    assert kb_search(query="capacity and load of staff")[0].name == "taskmanage-overview.txt"


def test_a_cancelled_job_stops_between_stages_and_stores_nothing(alice, processing, unit):
    add(alice)
    job = claimed_job(unit)
    job.cancelled.set()

    assert run_handler(handlers.get("document_processing"), job) == ("cancelled", None)
    assert [m.split(":")[0] for _, m in job.reporter.progresses] == ["validate"]
    assert not Chunk.objects.exists()


def test_a_document_no_parser_can_read_fails_for_good(alice, processing, unit):
    add(alice, b"%PDF-1.4 but nothing else", name="broken.pdf", content_type="application/pdf")

    outcome, (error, retryable), _ = process(unit)

    assert outcome == "failed" and retryable is False
    assert error.startswith("convert: the PDF cannot be read")


def test_a_content_url_off_the_server_is_refused_before_any_request(olga, processing, unit):
    api_client(olga).post("/api/v1/tasks", {
        "title": "steal the token", "task_type": "document_processing",
        "payload": {"document_id": "x", "content_url": "http://elsewhere.example/steal",
                    "chunk_size": 100, "chunk_overlap": 0, "content_type": "text/plain"}},
        format="json")

    outcome, (error, retryable), _ = process(unit)

    assert outcome == "failed" and retryable is False
    assert error.startswith("payload.content_url")


def test_a_unit_that_lost_the_task_stores_nothing(alice, processing, unit):
    doc = add(alice)
    job = claimed_job(unit)
    api_client(alice).post(f"/api/v1/tasks/{doc.task_id}/cancel", {}, format="json")

    outcome, result = run_handler(handlers.get("document_processing"), job)

    assert outcome == "failed" and result[1] is False  # the bytes are no longer its to read
    assert not Chunk.objects.exists()
