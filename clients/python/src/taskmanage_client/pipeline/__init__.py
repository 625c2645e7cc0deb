"""The knowledge-base document pipeline: pure Python, no Django.

validate → convert to text (`parse`) → chunk (`chunk`) → embed (`embed`); the
`document_processing` handler (`handler`) runs the stages on a unit and stores the chunks
through the API. The server embeds search queries with the same `embed`, so a query and the
chunks it is compared with live in one vector space.
"""

from .chunk import chunk_text
from .embed import DIM, cosine, embed
from .parse import SUPPORTED_TYPES, DocumentError, to_text, validate

__all__ = ["DIM", "SUPPORTED_TYPES", "DocumentError", "chunk_text", "cosine", "embed",
           "to_text", "validate"]
