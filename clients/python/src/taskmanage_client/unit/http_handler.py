"""The `http_request` handler: one HTTP request to the outside world, bounded.

A task's payload must not turn a unit into a way into the network it runs in: the host is
resolved here and every address it resolves to must be public (not private, loopback,
link-local, reserved, multicast…), and the request then goes to the address that was checked,
so a second lookup cannot answer differently (DNS rebinding). Redirects are not followed: the
result carries the status and `location`, and whoever wants the next hop asks for it as a new
request, checked again. `--allow-private-http` (or TASKMANAGE_UNIT_ALLOW_PRIVATE_HTTP=1) lifts
the address check for units that are meant to call internal services.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from typing import Any

import httpx

from .handlers import Cancelled, Fatal, Job, Retryable, handler, number

ALLOW_PRIVATE_ENV = "TASKMANAGE_UNIT_ALLOW_PRIVATE_HTTP"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# What a result keeps of the response's headers: what a caller acts on, not cookies.
KEPT_HEADERS = ("content-type", "content-length", "content-encoding", "location", "etag",
                "last-modified", "cache-control", "retry-after", "date")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def private_allowed(job: Job) -> bool:
    return job.settings.allow_private_http or os.environ.get(ALLOW_PRIVATE_ENV, "").lower() in (
        "1", "true", "yes", "on")


def why_refused(address: Address) -> str | None:
    """Why a request may not go to this address, or None when it is a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for kind in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:  # shared (100.64/10), documentation ranges, …
        return "not global"
    return None


def resolve(host: str, port: int) -> list[Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Retryable(f"payload.url: cannot resolve {host}: {exc}") from exc
    found: list[Address] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise Retryable(f"payload.url: {host} resolves to no address")
    return found


def checked_address(job: Job, url: httpx.URL) -> Address:
    """The address to connect to: the first one the host resolves to, once every one of them
    has passed the check."""
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = resolve(url.host, port)
    if not private_allowed(job):
        for address in addresses:
            reason = why_refused(address)
            if reason:
                raise Fatal(f"payload.url: {url.host} resolves to {address} ({reason}); "
                            "private addresses are refused unless --allow-private-http")
    return addresses[0]


def request_parts(job: Job) -> dict[str, Any]:
    """The request the payload asks for, checked field by field."""
    payload = job.payload
    raw_url = payload.get("url")
    if not isinstance(raw_url, str) or not raw_url:
        raise Fatal("payload.url: a URL is required")
    try:
        url = httpx.URL(raw_url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise Fatal(f"payload.url: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise Fatal("payload.url: an http:// or https:// URL with a host is required")
    method = str(payload.get("method", "GET")).upper()
    if method not in METHODS:
        raise Fatal(f"payload.method: one of {', '.join(sorted(METHODS))}")
    headers = payload.get("headers") or {}
    if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise Fatal("payload.headers: an object of strings is required")
    body = payload.get("body")
    content: dict[str, Any]
    if body is None:
        content = {}
    elif isinstance(body, str):
        content = {"content": body.encode()}
    else:
        content = {"json": body}
    timeout = number(payload, "timeout", default=10.0, low=0.1,
                     high=job.settings.http_max_timeout)
    return {"url": url, "method": method, "headers": headers, "content": content,
            "timeout": timeout, "fail_on_status": bool(payload.get("fail_on_status", False))}


@handler("http_request")
def http_request(job: Job) -> dict[str, Any]:
    """payload: url, method (GET), headers, body (a string, or JSON), timeout (s, 10),
    fail_on_status (false: a 5xx or 429 is then retryable, another 4xx fatal)."""
    parts = request_parts(job)
    url: httpx.URL = parts["url"]
    address = checked_address(job, url)
    pinned = url.copy_with(host=str(address))
    headers = httpx.Headers(parts["headers"])
    headers.setdefault("Host", url.netloc.decode("ascii"))  # the name, not the address
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    started = time.monotonic()
    deadline = started + parts["timeout"]
    try:
        # trust_env off: a proxy from the environment would connect on its own terms,
        # past the address check.
        with httpx.Client(timeout=parts["timeout"], follow_redirects=False,
                          trust_env=False) as http, http.stream(
                parts["method"], pinned, headers=headers, extensions=extensions,
                **parts["content"]) as response:
            body, truncated = read_limited(job, response, deadline)
    except httpx.TimeoutException as exc:
        raise Retryable(f"timed out after {parts['timeout']:g} s ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise Retryable(f"{type(exc).__name__}: {exc}") from exc
    result = {
        "status": response.status_code,
        "headers": {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers},
        "body": body.decode(response.encoding or "utf-8", errors="replace"),
        "truncated": truncated,
        "elapsed": round(time.monotonic() - started, 3),
    }
    if parts["fail_on_status"]:
        raise_for_status(response.status_code)
    return result


def read_limited(job: Job, response: httpx.Response, deadline: float) -> tuple[bytes, bool]:
    """The body up to the size limit (stopping the download there), within the deadline."""
    limit = job.settings.http_max_bytes
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the whole response took too long")
        if job.is_cancelled():
            raise Cancelled(job.id)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def raise_for_status(status: int) -> None:
    if status >= 500 or status == 429:
        raise Retryable(f"HTTP {status}")
    if status >= 400:
        raise Fatal(f"HTTP {status}")
