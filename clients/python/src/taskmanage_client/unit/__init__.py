"""The reference execution unit: `python -m taskmanage_client.unit --id … --type …`.

`handler` registers a handler by name; `UnitRunner` runs them on claimed work.
"""

# The built-ins register on import; the document pipeline's handler is one of them (its
# parsers load only when a document needs them: the `documents` extra).
from ..pipeline import handler as _document_processing  # noqa: F401
from . import http_handler, shell_handler  # noqa: F401
from .handlers import (
    Cancelled,
    Fatal,
    Job,
    Registry,
    Retryable,
    UnitSettings,
    handler,
    handlers,
)
from .runner import UnitRunner, connect

__all__ = ["Cancelled", "Fatal", "Job", "Registry", "Retryable", "UnitRunner", "UnitSettings",
           "connect", "handler", "handlers"]
