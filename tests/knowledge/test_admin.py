"""The admin shows documents (chunk count, processing task) and chunks, read-only."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from taskmanage_client.pipeline import embed

from apps.knowledge.models import Chunk
from tests.knowledge.conftest import add

pytestmark = pytest.mark.django_db


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_documents_page_shows_its_chunks_and_links_its_task(olga, processing):
    doc = add(olga, name="units.txt")
    Chunk.objects.create(document=doc, reference=doc.reference, index=0, text="Units claim.",
                         embedding=embed("Units claim."))
    client = admin_client(olga)

    listing = client.get("/admin/knowledge/document/").content.decode()
    page = client.get(f"/admin/knowledge/document/{doc.pk}/change/").content.decode()
    chunks = client.get("/admin/knowledge/chunk/").content.decode()

    assert "units.txt" in listing and f"/admin/tasks/task/{doc.task_id}/change/" in listing
    assert "Process units.txt" in page and "queued" in page
    assert "Units claim." in chunks and "256 floats" in chunks
    assert client.get("/admin/knowledge/document/add/").status_code == 403
    assert 'name="_save"' not in page  # read-only: nothing to save


def test_staff_without_admin_rights_do_not_get_in(alice, processing):
    doc = add(alice)
    response = admin_client(alice).get(f"/admin/knowledge/document/{doc.pk}/change/")
    assert response.status_code == 302  # to the admin's login


def test_the_chunk_list_reads_no_documents_file(olga, processing):
    doc = add(olga, name="units.txt")
    for i in range(3):
        Chunk.objects.create(document=doc, reference=doc.reference, index=i, text=f"c{i}",
                             embedding=embed(f"c{i}"))

    with CaptureQueriesContext(connection) as ctx:
        page = admin_client(olga).get("/admin/knowledge/chunk/")

    assert page.status_code == 200 and "units.txt" in page.content.decode()
    # A document's bytes (up to 10 MB) joined into every row of the list: never.
    assert not [q for q in ctx.captured_queries
                if '"knowledge_document"."content"' in q["sql"]]
