"""A deterministic local embedding: feature hashing of words and word pairs.

No model and no download, so it runs anywhere and gives the same vector on every machine and
in every process (blake2b, never Python's salted `hash`). It captures shared vocabulary, not
meaning: good enough for a demo search over a small knowledge base, and replaceable by a real
model behind the same function.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from hashlib import blake2b

DIM = 256
WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to tell documents apart: left out as unigrams, so they do not pull every
# text towards every other (pairs keep them: "how to" still differs from "to how").
STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "in",
    "is", "it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "will",
    "with",
})


def tokens(text: str) -> list[str]:
    return [_stem(w) for w in WORD.findall(text.lower())]


def _stem(word: str) -> str:
    """A plural's singular, crudely ("units" → "unit", not "class"): enough for a query in
    the singular to meet a text in the plural."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def features(text: str) -> Counter[str]:
    words = tokens(text)
    found = Counter(w for w in words if w not in STOP_WORDS)
    found.update(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))
    return found


def embed(text: str, *, dim: int = DIM) -> list[float]:
    """The text's unit-length vector of `dim` floats (all zeros for a text with no words).

    Each feature lands in a bucket chosen by its hash, with a sign from the hash too, so
    collisions cancel out on average rather than pile up; counts are damped (1 + log n) so a
    repeated word does not drown the rest.
    """
    if dim < 1:
        raise ValueError("dim must be at least 1")
    vector = [0.0] * dim
    for feature, count in features(text).items():
        digest = blake2b(feature.encode("utf-8"), digest_size=8).digest()
        bucket = int.from_bytes(digest[:4], "big") % dim
        sign = 1.0 if digest[4] & 1 else -1.0
        vector[bucket] += sign * (1.0 + math.log(count))
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity; 0 when either vector is zero."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0
