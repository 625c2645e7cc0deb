"""Text → overlapping chunks, by characters, cut at whitespace where there is some."""

from __future__ import annotations


def chunk_text(text: str, *, size: int, overlap: int = 0) -> list[str]:
    """Chunks of at most `size` characters; each starts about `overlap` characters before
    the previous one ended, so a sentence cut at a boundary is whole in one of the two.

    Cuts fall on whitespace when the window has some in its second half (a word is never
    split unless it alone is longer than that), and the next chunk starts on a word too.
    The same text and parameters always give the same chunks.
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    if not 0 <= overlap < size:
        raise ValueError("overlap must be at least 0 and smaller than size")
    chunks: list[str] = []
    start, n = _skip_space(text, 0), len(text)
    while start < n:
        end = _cut(text, start, size)
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        if end >= n:
            break
        start = _next_start(text, start, end, overlap)
    return chunks


def _cut(text: str, start: int, size: int) -> int:
    end = min(start + size, len(text))
    if end == len(text) or text[end].isspace():
        return end
    # The last whitespace in the window's second half; a window without one is cut hard.
    for i in range(end - 1, start + size // 2, -1):
        if text[i].isspace():
            return i
    return end


def _next_start(text: str, start: int, end: int, overlap: int) -> int:
    nxt = max(end - overlap, start + 1)  # always forward, whatever the overlap
    if nxt < end and not text[nxt - 1].isspace():
        # Inside a word: begin at the next word, if one starts before the cut.
        for i in range(nxt, end):
            if text[i].isspace():
                nxt = i
                break
    return _skip_space(text, nxt)


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i
