"""The reference execution unit: `python -m taskmanage_client.unit --id … --type …`.

`handler` registers a handler by name; `UnitRunner` runs them on claimed work.
"""

from . import http_handler, shell_handler  # noqa: F401  (the built-ins register on import)
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
