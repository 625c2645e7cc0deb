"""The document pipeline end to end, as it runs in production: documents uploaded to a live
server process, processed by the reference unit as a process of its own (its built-in
`document_processing` handler), then found by the search."""

from __future__ import annotations

from pathlib import Path

from taskmanage_client import Client, NotFound

from tests.unit_runner.conftest import REPO_DIR
from tests.unit_runner.test_live_unit import finished, unit

DOCUMENTS = REPO_DIR / "apps" / "demo" / "documents"
TYPES = {".txt": "text/plain", ".md": "text/markdown", ".html": "text/html",
         ".pdf": "application/pdf"}


def upload(admin: Client, path: Path, reference: str) -> str:
    response = admin.request(
        "POST", "/api/v1/knowledge/documents",
        files={"file": (path.name, path.read_bytes(), TYPES[path.suffix])},
        data={"reference": reference, "chunk_size": "400", "chunk_overlap": "40"})
    return response.json()["task"]["id"]


def test_real_documents_are_processed_by_the_unit_process_and_found_by_search(live,
                                                                            tmp_path):
    admin = live.admin()
    try:
        admin.request("GET", "/api/v1/task-types/document_processing")
    except NotFound:  # the server's database is this module's: nothing made it yet
        admin.request("POST", "/api/v1/task-types", json={
            "key": "document_processing", "name": "Documents", "assignee_kind": "unit"})
    paths = sorted(DOCUMENTS.iterdir())
    assert {p.suffix for p in paths} == set(TYPES)  # one of each kind the pipeline reads
    task_ids = {path.name: upload(admin, path, f"kb-live-{i}") for i, path in enumerate(paths)}

    with unit(live, tmp_path, "document_processing", capacity=4):
        done = {name: finished(admin, admin.get_task(task_id), tmp_path, seconds=60)
                for name, task_id in task_ids.items()}

    for name, task in done.items():
        assert task.status == "completed", (name, task.error)
        assert task.result["chunks"] >= 1 and task.result["embedding_dim"] == 256
        assert task.progress == 100
        stages = [line.message.split(":")[0] for line in admin.logs(task.id)]
        assert stages[:3] == ["validate", "convert", "chunk"], stages
    hits = admin.request("GET", "/api/v1/knowledge/search",
                         params={"q": "approve or reject a request", "limit": 3}).json()
    assert hits and hits[0]["name"] == "approvals.html", hits
    pdf = f"kb-live-{paths.index(DOCUMENTS / 'knowledge-base.pdf')}"
    pdf_hits = admin.request("GET", "/api/v1/knowledge/search",
                             params={"q": "nearest chunks", "reference": pdf}).json()
    assert pdf_hits and {h["name"] for h in pdf_hits} == {"knowledge-base.pdf"}
