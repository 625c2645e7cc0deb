"""The knowledge-base API: upload, read, the processing unit's two calls, search; who may
call each, and bad input refused with the field named and nothing written."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient
from taskmanage_client.pipeline import DIM, embed

from apps.knowledge.models import Chunk, Document
from apps.tasks.models import Task
from tests.builders import api_client, field_errors
from tests.knowledge.conftest import DOCUMENTS, add, claim, register, unit_client

pytestmark = pytest.mark.django_db
URL = "/api/v1/knowledge/documents"


def upload(user, content: bytes = b"Units claim tasks under a lease.", *,
           filename="notes.txt", content_type="text/plain", **fields):
    body = {"file": SimpleUploadedFile(filename, content, content_type=content_type),
            "reference": "kb-1", **fields}
    return api_client(user).post(URL, body, format="multipart")


def chunk_body(task_id, texts=("Units claim tasks.", "Leases expire.")) -> dict:
    return {"task_id": str(task_id), "chunks": [
        {"index": i, "text": t, "embedding": embed(t)} for i, t in enumerate(texts)]}


def nothing_written():
    return not Document.objects.exists() and not Task.objects.exists()


# --- upload ----------------------------------------------------------------------------------
def test_an_upload_keeps_the_document_and_creates_its_processing_task(alice, processing):
    content = (DOCUMENTS / "execution-units.md").read_bytes()
    response = upload(alice, content, filename="execution-units.md",
                      content_type="application/octet-stream", chunk_size=400,
                      chunk_overlap=50)

    assert response.status_code == 201, response.json()
    body = response.json()
    doc = Document.objects.get(pk=body["id"])
    assert body["content_type"] == "text/markdown"  # from the name, curl sends octet-stream
    assert (body["name"], body["reference"], body["size"]) == (
        "execution-units.md", "kb-1", len(content))
    assert bytes(doc.content) == content and len(body["sha256"]) == 64
    task = Task.objects.get(pk=body["task"]["id"])
    assert body["task"]["status"] == task.status == "queued"
    assert task.task_type == processing and task.reference == "kb-1"
    assert task.created_by == alice
    assert task.payload == {
        "document_id": str(doc.pk), "content_url": f"{URL}/{doc.pk}/content",
        "chunk_size": 400, "chunk_overlap": 50, "content_type": "text/markdown",
        "name": "execution-units.md"}


def test_an_upload_takes_default_chunking(alice, processing):
    body = upload(alice).json()
    assert (body["chunk_size"], body["chunk_overlap"], body["chunks"]) == (800, 100, 0)


@pytest.mark.parametrize(("fields", "content", "content_type", "field"), [
    ({}, b"", "text/plain", "file"),
    ({}, b"caf\xe9", "text/plain", "file"),
    ({}, b"%PNG....", "image/png", "content_type"),
    ({}, b"<p>no</p>", "application/pdf", "file"),
    ({"chunk_overlap": 200, "chunk_size": 200}, b"text", "text/plain", "chunk_overlap"),
    ({"chunk_overlap": 300, "chunk_size": 200}, b"text", "text/plain", "chunk_overlap"),
    ({"chunk_size": 5}, b"text", "text/plain", "chunk_size"),
    ({"chunk_size": "many"}, b"text", "text/plain", "chunk_size"),
    ({"reference": ""}, b"text", "text/plain", "reference"),
    ({"reference": "kb 1; drop"}, b"text", "text/plain", "reference"),
    ({"reference": "kb\x001"}, b"text", "text/plain", "reference"),
    ({"name": "a\x00b.txt"}, b"text", "text/plain", "name"),
    ({"name": "x" * 256}, b"text", "text/plain", "name"),
    ({"status": "completed"}, b"text", "text/plain", "status"),
])
def test_bad_uploads_are_a_400_naming_the_field_with_nothing_written(
        alice, processing, fields, content, content_type, field):
    response = upload(alice, content, content_type=content_type, **fields)

    assert response.status_code == 400, response.json()
    assert field in field_errors(response)
    assert nothing_written()


def test_a_missing_file_is_a_400_naming_it(alice, processing):
    response = api_client(alice).post(URL, {"reference": "kb-1"}, format="multipart")
    assert response.status_code == 400 and "file" in field_errors(response)


def test_a_file_over_the_size_limit_is_refused(alice, processing, settings):
    settings.KNOWLEDGE_MAX_DOCUMENT_BYTES = 1024
    response = upload(alice, b"word " * 300)  # 1500 bytes
    assert response.status_code == 400 and "file" in field_errors(response)
    assert nothing_written()


def test_a_huge_body_is_refused_before_it_is_read(alice, processing, settings):
    settings.KNOWLEDGE_MAX_DOCUMENT_BYTES = 1024
    response = upload(alice, b"word " * 40_000)  # 200 KB: past the limit and its margin
    assert response.status_code == 400 and "file" in field_errors(response)
    assert nothing_written()


def test_a_document_that_would_make_too_many_chunks_is_refused(alice, processing, settings):
    settings.KNOWLEDGE_MAX_CHUNKS = 3
    response = upload(alice, b"word " * 200, chunk_size=100, chunk_overlap=0)
    assert response.status_code == 400 and "chunk_size" in field_errors(response)


def test_without_the_processing_task_type_an_upload_is_a_409(alice):
    response = upload(alice)
    assert response.status_code == 409
    assert nothing_written()


def test_anonymous_and_units_cannot_upload(processing):
    assert APIClient().post(URL, {"reference": "kb-1"}, format="multipart").status_code == 401
    _, token = register("worker-001")
    response = unit_client(token).post(
        URL, {"file": SimpleUploadedFile("a.txt", b"text", "text/plain"), "reference": "kb-1"},
        format="multipart")
    assert response.status_code == 403
    assert nothing_written()


# --- reading ---------------------------------------------------------------------------------
def test_who_sees_the_task_sees_the_document(alice, rita, olga, margaret, mallory, processing):
    mine = add(alice)
    add(rita, reference="kb-2")

    def listed(user):
        response = api_client(user).get(URL)
        assert response.status_code == 200
        return {d["id"] for d in response.json()["results"]}

    assert listed(alice) == {str(mine.pk)}
    assert len(listed(olga)) == len(listed(margaret)) == 2
    assert listed(mallory) == set()
    assert api_client(alice).get(f"{URL}/{mine.pk}").json()["task"]["id"] == str(mine.task_id)
    assert api_client(mallory).get(f"{URL}/{mine.pk}").status_code == 404
    assert api_client(rita).get(f"{URL}/{mine.pk}/content").status_code == 404
    assert api_client(olga).get(f"{URL}?reference=kb-2").json()["count"] == 1


def test_anonymous_cannot_read_documents(alice, processing):
    doc = add(alice)
    for path in (URL, f"{URL}/{doc.pk}", f"{URL}/{doc.pk}/content"):
        assert APIClient().get(path).status_code == 401


def test_the_content_is_served_with_its_type_to_who_may_see_it(alice, processing):
    pdf = (DOCUMENTS / "knowledge-base.pdf").read_bytes()
    doc = add(alice, pdf, name="kb.pdf", content_type="application/pdf")

    response = api_client(alice).get(f"{URL}/{doc.pk}/content")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf" and response.content == pdf


def test_only_the_unit_running_the_task_reads_the_content(alice, processing):
    doc = add(alice)
    _, holder = register("worker-001")
    _, other = register("worker-002")
    assert unit_client(holder).get(f"{URL}/{doc.pk}/content").status_code == 403  # queued

    claim(holder, "worker-001")

    assert unit_client(holder).get(f"{URL}/{doc.pk}/content").content == bytes(doc.content)
    assert unit_client(other).get(f"{URL}/{doc.pk}/content").status_code == 403
    assert unit_client(holder).get(f"{URL}/{doc.pk}").status_code == 403  # not a unit's call
    assert unit_client(holder).get(URL).status_code == 403


# --- storing chunks --------------------------------------------------------------------------
def test_the_unit_running_the_task_stores_the_chunks_and_a_retry_writes_them_once(
        alice, processing):
    doc = add(alice, reference="kb-7")
    _, token = register("worker-001")
    claim(token, "worker-001")

    for _ in range(2):
        response = unit_client(token).put(f"{URL}/{doc.pk}/chunks", chunk_body(doc.task_id),
                                          format="json")
        assert response.status_code == 200, response.json()
        assert response.json() == {"document": str(doc.pk), "chunks": 2}

    chunks = list(Chunk.objects.filter(document=doc))
    assert [(c.index, c.reference) for c in chunks] == [(0, "kb-7"), (1, "kb-7")]
    assert chunks[0].text == "Units claim tasks." and len(chunks[0].embedding) == DIM
    assert chunks[0].embedding == pytest.approx(embed("Units claim tasks."))
    assert api_client(alice).get(f"{URL}/{doc.pk}").json()["chunks"] == 2


def test_a_unit_not_holding_the_task_cannot_store_chunks(alice, processing):
    doc = add(alice)
    _, holder = register("worker-001")
    _, other = register("worker-002")
    claim(holder, "worker-001")

    response = unit_client(other).put(f"{URL}/{doc.pk}/chunks", chunk_body(doc.task_id),
                                      format="json")

    assert response.status_code == 403
    assert not Chunk.objects.exists()


def test_people_cannot_store_chunks(alice, olga, processing):
    doc = add(alice)
    for user in (alice, olga):
        response = api_client(user).put(f"{URL}/{doc.pk}/chunks", chunk_body(doc.task_id),
                                        format="json")
        assert response.status_code == 403
    assert APIClient().put(f"{URL}/{doc.pk}/chunks", {}, format="json").status_code == 401
    assert not Chunk.objects.exists()


def test_a_unit_that_lost_the_task_gets_a_409_and_writes_nothing(alice, processing):
    doc = add(alice)
    _, token = register("worker-001")
    claim(token, "worker-001")
    api_client(alice).post(f"/api/v1/tasks/{doc.task_id}/cancel", {}, format="json")

    response = unit_client(token).put(f"{URL}/{doc.pk}/chunks", chunk_body(doc.task_id),
                                      format="json")

    assert response.status_code == 409
    assert response.json()["status"] == "cancelled"
    assert not Chunk.objects.exists()


def _bad(body: dict, **changes) -> dict:
    chunk = {**body["chunks"][0], **changes}
    return {**body, "chunks": [chunk, *body["chunks"][1:]]}


@pytest.mark.parametrize(("make", "field"), [
    (lambda b: _bad(b, embedding=[0.1] * (DIM - 1)), "chunks"),
    (lambda b: _bad(b, embedding=[0.1] * DIM + [0.2]), "chunks"),
    (lambda b: _bad(b, embedding=["x"] * DIM), "chunks"),
    (lambda b: _bad(b, embedding=[True] * DIM), "chunks"),
    (lambda b: _bad(b, text="a\x00b"), "chunks"),
    (lambda b: _bad(b, text="a\ud800b"), "chunks"),
    (lambda b: _bad(b, text=""), "chunks"),
    (lambda b: _bad(b, text="x" * 4001), "chunks"),
    (lambda b: _bad(b, index=1), "chunks"),  # two chunks numbered 1
    (lambda b: _bad(b, index=-1), "chunks"),
    (lambda b: _bad(b, colour="red"), "chunks"),
    (lambda b: {**b, "chunks": []}, "chunks"),
    (lambda b: {**b, "task_id": "not-a-uuid"}, "task_id"),
    (lambda b: {**b, "task_id": "00000000-0000-0000-0000-000000000000"}, "task_id"),
    (lambda b: {k: v for k, v in b.items() if k != "task_id"}, "task_id"),
])
def test_bad_chunks_are_a_400_naming_the_field_with_nothing_written(
        alice, processing, make, field):
    doc = add(alice)
    _, token = register("worker-001")
    claim(token, "worker-001")

    # Sent as JSON text: ASCII escapes carry even a lone surrogate, as any client's JSON may.
    response = unit_client(token).put(f"{URL}/{doc.pk}/chunks",
                                      json.dumps(make(chunk_body(doc.task_id))),
                                      content_type="application/json")

    assert response.status_code == 400, response.json()
    assert field in field_errors(response)
    assert not Chunk.objects.exists()


def test_too_many_chunks_are_refused(alice, processing, settings):
    settings.KNOWLEDGE_MAX_CHUNKS = 2
    doc = add(alice)
    _, token = register("worker-001")
    claim(token, "worker-001")

    response = unit_client(token).put(
        f"{URL}/{doc.pk}/chunks", chunk_body(doc.task_id, texts=("a", "b", "c")), format="json")

    assert response.status_code == 400 and "chunks" in field_errors(response)


# --- search ----------------------------------------------------------------------------------
def _store(doc, texts, token):
    response = unit_client(token).put(f"{URL}/{doc.pk}/chunks",
                                      chunk_body(doc.task_id, texts), format="json")
    assert response.status_code == 200


def test_search_returns_the_nearest_chunks_first(alice, mallory, processing):
    leases = add(alice, name="units.txt", reference="kb-1")
    money = add(alice, name="invoices.txt", reference="kb-2")
    _, token = register("worker-001")
    claim(token, "worker-001")
    _store(leases, ["Units claim tasks under a lease.", "Heartbeats renew the lease."], token)
    _store(money, ["Invoice reviews need a manager's approval."], token)

    response = api_client(alice).get("/api/v1/knowledge/search",
                                     {"q": "invoice approval", "limit": 2})

    assert response.status_code == 200
    hits = response.json()
    assert [h["name"] for h in hits] == ["invoices.txt", "units.txt"]
    assert hits[0] == {"document": str(money.pk), "name": "invoices.txt", "reference": "kb-2",
                       "index": 0, "text": "Invoice reviews need a manager's approval.",
                       "score": pytest.approx(hits[0]["score"])}
    assert hits[0]["score"] > hits[1]["score"]
    only_kb1 = api_client(alice).get("/api/v1/knowledge/search",
                                     {"q": "invoice approval", "reference": "kb-1"}).json()
    assert {h["reference"] for h in only_kb1} == {"kb-1"}
    # mallory may see neither document's task: the search shows her none of their text.
    assert api_client(mallory).get("/api/v1/knowledge/search",
                                   {"q": "invoice approval"}).json() == []


@pytest.mark.parametrize(("params", "field"), [
    ({}, "q"), ({"q": ""}, "q"), ({"q": "a\x00b"}, "q"), ({"q": "x" * 501}, "q"),
    ({"q": "lease", "limit": 0}, "limit"), ({"q": "lease", "limit": 51}, "limit"),
    ({"q": "lease", "limit": "many"}, "limit"),
])
def test_bad_searches_are_a_400_naming_the_field(alice, params, field):
    response = api_client(alice).get("/api/v1/knowledge/search", params)
    assert response.status_code == 400 and field in field_errors(response)


def test_anonymous_and_units_cannot_search(processing):
    assert APIClient().get("/api/v1/knowledge/search", {"q": "lease"}).status_code == 401
    _, token = register("worker-001")
    assert unit_client(token).get("/api/v1/knowledge/search", {"q": "x"}).status_code == 403
