"""Bytes of a document → plain text, one well-kept parser per type.

`validate` refuses what no retry could ever process (empty, an unsupported type, bytes that
are not what their type says) with a `DocumentError`; the handler turns it into a fatal
failure. The parsers are imported when first needed, so the rest of the pipeline (chunking,
embedding) works without the `documents` extra installed.
"""

from __future__ import annotations

import io
import re

SUPPORTED_TYPES = ("text/plain", "text/markdown", "text/html", "application/pdf")
ALIASES = {"text/x-markdown": "text/markdown", "application/xhtml+xml": "text/html"}
# What PostgreSQL cannot store in text, and JSON cannot carry to it: NUL and lone surrogates.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
BLANK_RUNS = re.compile(r"\n\s*\n\s*")
SPACE_RUNS = re.compile(r"[^\S\n]+")
BLOCK_TAGS = ["p", "div", "section", "article", "header", "footer", "main", "nav", "aside",
              "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "tr", "pre", "blockquote",
              "br", "hr", "table", "ul", "ol", "figure", "figcaption"]


class DocumentError(ValueError):
    """The document cannot be processed as it is: retrying will not help."""


def media_type(content_type: str) -> tuple[str, str]:
    """(the normalised media type, its charset or "utf-8") of a Content-Type value."""
    kind, _, params = (content_type or "").partition(";")
    kind = kind.strip().lower()
    charset = "utf-8"
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"').lower()
    return ALIASES.get(kind, kind), charset


def validate(content: bytes, content_type: str, *, max_bytes: int | None = None) -> str:
    """The document's normalised media type, or a DocumentError saying why it is refused."""
    kind, charset = media_type(content_type)
    if kind not in SUPPORTED_TYPES:
        raise DocumentError(f"unsupported content type {kind or '(none)'!r}; supported: "
                            + ", ".join(SUPPORTED_TYPES))
    if not content:
        raise DocumentError("the document is empty")
    if max_bytes is not None and len(content) > max_bytes:
        raise DocumentError(f"the document is {len(content)} bytes, more than {max_bytes}")
    if kind == "application/pdf":
        if not content.lstrip()[:5] == b"%PDF-":
            raise DocumentError("not a PDF file (no %PDF- header)")
    else:
        _decode(content, charset)
    return kind


def to_text(content: bytes, content_type: str) -> str:
    """The document's text: paragraphs separated by a blank line, spaces collapsed."""
    kind = validate(content, content_type)
    _, charset = media_type(content_type)
    if kind == "application/pdf":
        text = _pdf(content)
    elif kind == "text/html":
        text = _html(content)
    elif kind == "text/markdown":
        text = _markdown(_decode(content, charset))
    else:
        text = _decode(content, charset)
    text = tidy(text)
    if not text:
        raise DocumentError("the document has no text")
    return text


def tidy(text: str) -> str:
    text = UNSTORABLE.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = SPACE_RUNS.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return BLANK_RUNS.sub("\n\n", text).strip()


def _decode(content: bytes, charset: str) -> str:
    try:
        return content.decode("utf-8-sig" if charset in ("utf-8", "utf8") else charset)
    except LookupError as exc:
        raise DocumentError(f"unknown charset {charset!r}") from exc
    except UnicodeDecodeError as exc:
        raise DocumentError(f"the document is not valid {charset} text "
                            f"(byte {exc.start})") from exc


def _markdown(source: str) -> str:
    from markdown_it import MarkdownIt

    blocks: list[str] = []
    for token in MarkdownIt("commonmark").parse(source):
        if token.type == "inline":
            blocks.append("".join(_inline_text(child) for child in token.children or ()))
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content)
    return "\n\n".join(blocks)


def _inline_text(token) -> str:
    if token.type in ("text", "code_inline"):
        return token.content
    if token.type in ("softbreak", "hardbreak"):
        return "\n" if token.type == "hardbreak" else " "
    return ""


def _html(content: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(content, "html.parser")
    for hidden in soup(["script", "style", "noscript", "template", "head"]):
        hidden.decompose()
    # Blocks end a line; inline elements (<b>, <a>) stay within their sentence.
    for block in soup(BLOCK_TAGS):
        block.append("\n")
    return soup.get_text()


def _pdf(content: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            raise DocumentError("the PDF is encrypted")
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise DocumentError(f"the PDF cannot be read: {exc}") from exc
