"""How a callback leaves: the URL rules, the address check, the signature and the POST.

The address is checked on every address the name resolves to, and the connection goes to the
address that was checked (not to a second lookup, which a rebinding DNS server could answer
differently). Redirects are not followed: a 3xx is a failed attempt, so no hop can lead to an
address that was never checked.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from .models import URL_MAX_LENGTH

SIGNATURE_VERSION = "v1"


class Refused(Exception):
    """The destination is not one TaskManage may call."""


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why `url` cannot be a callback URL, or None. No DNS lookup: names are checked when a
    delivery is attempted (what a name resolves to may change)."""
    if len(url) > URL_MAX_LENGTH:
        return f"Must be at most {URL_MAX_LENGTH} characters."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "Not a valid URL."
    if parts.scheme not in ("http", "https"):
        return "Must be an http or https URL."
    if not parts.hostname:
        return "Must name a host."
    if parts.username is not None or parts.password is not None:
        return "Must not carry credentials: the signature authenticates the request."
    if port == 0:
        return "Not a valid port."
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "Must not contain whitespace or control characters."
    if not url.isascii():
        # Sent as they stand in the request line and to the resolver: an IRI would fail
        # there at every attempt. Clients percent-encode paths and punycode hosts.
        return "Must be ASCII: percent-encode the path, punycode the host."
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        return "Not a valid host name."
    literal = _literal_ip(parts.hostname)
    if literal is not None and not allow_private and not _public(literal):
        return f"{literal} is not a public address."
    return None


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:10.0.0.1 is 10.0.0.1
    if mapped is not None:
        ip = mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to; Refused if any address of the name is not public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectionError(f"cannot resolve {host}: {exc.strerror}") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not allow_private:
        for address in addresses:
            if not _public(ipaddress.ip_address(address.split("%")[0])):
                named = host if address == host else f"{host} resolves to {address}, which"
                raise Refused(f"{named} is not a public address")
    return addresses[0]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=` and the hex HMAC-SHA256 of "<timestamp>.<body>" under the client's secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float,
         allow_private: bool) -> Outcome:
    """POST once; never raises for what the receiver or the network does."""
    started = time.monotonic()
    code, error = None, ""
    try:
        code = _post(url, body, headers, timeout=timeout, allow_private=allow_private)
        if 300 <= code < 400:
            error = "redirect not followed"
        elif not 200 <= code < 300:
            error = f"HTTP {code}"
    except Refused as exc:
        error = f"refused: {exc}"
    except (OSError, http.client.HTTPException, ConnectionError, ValueError) as exc:
        # ValueError (UnicodeError among them): a URL stored before today's checks, or one
        # they missed, fails its attempt, recorded, instead of jamming the delivery.
        error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
    return Outcome(code, error[:500], int((time.monotonic() - started) * 1000))


def _post(url: str, body: bytes, headers: dict[str, str], *, timeout: float,
          allow_private: bool) -> int:
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    address = resolve(parts.hostname, port, allow_private=allow_private)
    cls = _PinnedHTTPS if secure else _PinnedHTTP
    conn = cls(parts.hostname, port, timeout=timeout)
    conn.address = address
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(64 * 1024)  # what the receiver says is not kept; enough to end cleanly
        return response.status
    finally:
        conn.close()


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the checked address; the Host header keeps the URL's name."""

    address: str

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """Connects to the checked address; TLS verifies the certificate for the URL's name."""

    address: str

    def __init__(self, host, port, *, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
