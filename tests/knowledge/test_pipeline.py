"""The pipeline's pure stages: parsers on real files, chunking, the local embedding."""

from __future__ import annotations

import math

import pytest
from taskmanage_client.pipeline import DIM, DocumentError, chunk_text, cosine, embed, to_text
from taskmanage_client.pipeline.parse import validate

from tests.knowledge.conftest import DOCUMENTS


def read(name: str) -> bytes:
    return (DOCUMENTS / name).read_bytes()


# --- parse -----------------------------------------------------------------------------------
def test_plain_text_is_read_as_utf8_with_its_paragraphs():
    text = to_text(read("taskmanage-overview.txt"), "text/plain")
    assert text.startswith("TaskManage: an overview\n\nTaskManage decides who does what")
    assert "\n\nTask types\n\n" in text


def test_markdown_becomes_its_text_without_markup_and_keeps_code_blocks():
    text = to_text(read("execution-units.md"), "text/markdown; charset=utf-8")
    assert text.startswith("Execution units\n\nExecution units are machines that do")
    assert "**" not in text and "`" not in text and "# " not in text
    assert "python manage.py run_unit --id worker-001" in text  # the fenced block
    assert "progress: a percentage" in text  # a list item, inline code unwrapped


def test_html_becomes_its_visible_text_without_scripts_or_styles():
    text = to_text(read("approvals.html"), "text/html")
    assert text.startswith("Approvals\n\nSome work must be approved before it starts")
    assert "console.log" not in text and "font-family" not in text
    assert "Approvals in TaskManage" not in text  # the <head>'s title is not the body
    assert "waits in pending_approval\nuntil" in text  # inline elements stay in the line


def test_pdf_text_is_extracted_with_pypdf():
    text = to_text(read("knowledge-base.pdf"), "application/pdf")
    assert text.startswith("The knowledge base")
    assert "feature hashing" in text and "cosine" in text


@pytest.mark.parametrize(("content", "content_type", "says"), [
    (b"", "text/plain", "empty"),
    (b"hello", "image/png", "unsupported content type"),
    (b"hello", "", "unsupported content type"),
    (b"caf\xe9 latin-1", "text/plain", "not valid utf-8"),
    (b"<p>hello</p>", "application/pdf", "not a PDF"),
    (b"%PDF-1.4 truncated nonsense", "application/pdf", "cannot be read"),
    (b"   \n\n  ", "text/plain", "no text"),
    (b"<script>only()</script>", "text/html", "no text"),
])
def test_what_cannot_be_processed_is_refused_with_a_reason(content, content_type, says):
    with pytest.raises(DocumentError, match=says):
        to_text(content, content_type)


def test_validate_knows_a_declared_charset_and_the_size_limit():
    assert validate("café".encode("latin-1"), "text/plain; charset=latin-1") == "text/plain"
    assert to_text("café".encode("latin-1"), "text/plain; charset=latin-1") == "café"
    with pytest.raises(DocumentError, match="more than 4"):
        validate(b"hello", "text/plain", max_bytes=4)


def test_text_that_postgresql_cannot_store_is_cleaned_out():
    assert to_text(b"a\x00b", "text/plain") == "a b"


# --- chunk -----------------------------------------------------------------------------------
TEXT = ("Units claim tasks under a lease. A lease that expires sends the task back to the "
        "queue. Heartbeats renew it, and so do progress reports. ") * 8


def test_chunks_are_at_most_the_size_and_cut_between_words():
    chunks = chunk_text(TEXT, size=100, overlap=0)
    assert all(len(c) <= 100 for c in chunks)
    words = set(TEXT.split())
    for c in chunks:
        assert set(c.split()) <= words  # no word was cut in two
    assert " ".join(chunks).split() == TEXT.split()  # without overlap: everything, once


def test_consecutive_chunks_overlap_by_about_the_overlap():
    chunks = chunk_text(TEXT, size=100, overlap=30)
    assert len(chunks) > len(chunk_text(TEXT, size=100, overlap=0))
    for before, after in zip(chunks, chunks[1:], strict=False):
        shared = after.split()[0]
        tail = before[-30:]
        assert shared in tail  # the next chunk starts inside the last 30 characters
    assert chunks[-1].endswith("progress reports.")


def test_chunking_is_deterministic_and_a_short_text_is_one_chunk():
    assert chunk_text(TEXT, size=120, overlap=40) == chunk_text(TEXT, size=120, overlap=40)
    assert chunk_text("  short text  ", size=100, overlap=10) == ["short text"]
    assert chunk_text("", size=100, overlap=10) == []


def test_a_word_longer_than_the_size_is_cut_hard():
    assert chunk_text("x" * 25, size=10, overlap=0) == ["x" * 10, "x" * 10, "x" * 5]


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, 11), (10, -1)])
def test_impossible_chunking_parameters_are_refused(size, overlap):
    with pytest.raises(ValueError):
        chunk_text(TEXT, size=size, overlap=overlap)


# --- embed -----------------------------------------------------------------------------------
def test_an_embedding_is_deterministic_unit_length_and_of_the_pipeline_dimension():
    vector = embed("Units claim tasks under a lease")
    assert len(vector) == DIM == 256
    assert vector == embed("Units claim tasks under a lease")
    assert math.isclose(sum(v * v for v in vector), 1.0)
    assert embed("  ,;  ") == [0.0] * DIM


def test_similar_texts_are_nearer_than_unrelated_ones():
    query = embed("how does a unit claim a task and renew its lease")
    near = embed("Units claim tasks under a lease; heartbeats renew the lease.")
    far = embed("Invoice reviews need a completion approval by a manager.")
    assert cosine(query, near) > cosine(query, far)
    assert cosine(near, near) == pytest.approx(1.0)
