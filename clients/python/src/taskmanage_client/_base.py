"""Options and request building common to Client and AsyncClient."""

from __future__ import annotations

from typing import Any

import httpx

from ._transport import Call, RetryPolicy, timeout_for
from ._version import __version__

DEFAULT_USER_AGENT = f"taskmanage-client/{__version__} httpx/{httpx.__version__}"


class BaseClient:
    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 10.0,
                 retries: int = 4, backoff: float = 0.5, max_backoff: float = 30.0,
                 transport: Any = None, user_agent: str = DEFAULT_USER_AGENT) -> None:
        # The server's origin (http://127.0.0.1:8000); paths start at /api/v1.
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.user_agent = user_agent
        # The same bound on connecting, reading, writing and waiting for a pooled connection.
        self._timeout = httpx.Timeout(timeout)
        self._policy = RetryPolicy(retries=retries, backoff=backoff, max_backoff=max_backoff)
        self._http = self._open(transport)

    def _open(self, transport: Any) -> Any:
        """The httpx client of this flavour (`transport`: an httpx transport, e.g. a mock
        or one with its own TLS or proxy settings)."""
        raise NotImplementedError

    def _request_args(self, call: Call, extra: dict[str, Any]) -> dict[str, Any]:
        extra = dict(extra)  # the same for every attempt: never consumed
        headers = dict(call.headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra.pop("headers", None) or {})
        args: dict[str, Any] = {"method": call.method, "url": call.path, "headers": headers,
                                "timeout": timeout_for(self._timeout, call)}
        if call.json is not None:
            args["json"] = call.json
        if call.params:
            args["params"] = call.params
        args.update(extra)
        return args
