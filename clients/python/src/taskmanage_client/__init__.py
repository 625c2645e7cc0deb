"""TaskManage's Python client: `Client` (sync) and `AsyncClient` over httpx.

    from taskmanage_client import Client

    with Client("http://127.0.0.1:8000", token="...") as tm:
        task = tm.create_task(title="Summarise", task_type="document_processing")
        print(tm.wait_for(task.id).result)
"""

from ._version import __version__
from .aio import AsyncClient
from .client import Client
from .errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TaskManageError,
    TransportError,
    ValidationError,
    WaitTimeout,
)
from .models import Assignee, Heartbeat, LogLine, Outcome, Registration, Task, Unit

__all__ = [
    "AsyncClient", "Assignee", "AuthenticationFailed", "Client", "Conflict", "Heartbeat",
    "LogLine", "NotFound", "Outcome", "PermissionDenied", "RateLimited", "Registration",
    "ServerError", "Task", "TaskManageError", "TransportError", "Unit", "ValidationError",
    "WaitTimeout", "__version__",
]
