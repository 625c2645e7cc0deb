"""How a callback leaves: the URL rules, the address check, the signature and the POST.

Every address the name resolves to is checked, and the connection goes to an address that
was checked (not to a second lookup, which a rebinding DNS server could answer differently),
trying each in turn until one answers. Redirects are not followed: a 3xx is a failed attempt,
so no hop can lead to an address that was never checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import threading
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


def resolve(host: str, port: int, *, allow_private: bool,
            pinned: dict[str, list[str]] | None = None) -> list[str]:
    """The addresses to try, in the resolver's order; Refused if any address of the name is
    not public (one private address among public ones is refused too: which one a client
    reaches is not ours to choose). `pinned` answers for the names it holds instead of DNS,
    as curl's --resolve does (CALLBACK_RESOLVE)."""
    if pinned and host in pinned:
        addresses = list(dict.fromkeys(pinned[host]))
    else:
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
    return addresses


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
         allow_private: bool, pinned: dict[str, list[str]] | None = None) -> Outcome:
    """POST once, within `timeout` seconds for the whole attempt; never raises for what the
    receiver or the network does."""
    started = time.monotonic()
    code, error = None, ""
    try:
        code = _post(url, body, headers, deadline=started + timeout, timeout=timeout,
                     allow_private=allow_private, pinned=pinned)
        if 300 <= code < 400:
            error = "redirect not followed"
        elif not 200 <= code < 300:
            error = f"HTTP {code}"
    except Refused as exc:
        error = f"refused: {exc}"
    except AttemptTimedOut as exc:
        error = str(exc)
    except (OSError, http.client.HTTPException, ConnectionError, ValueError) as exc:
        # ValueError (UnicodeError among them): a URL stored before today's checks, or one
        # they missed, fails its attempt, recorded, instead of jamming the delivery.
        error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
    return Outcome(code, error[:500], int((time.monotonic() - started) * 1000))


class AttemptTimedOut(Exception):
    """The attempt as a whole ran past its deadline."""


def _post(url: str, body: bytes, headers: dict[str, str], *, deadline: float, timeout: float,
          allow_private: bool, pinned: dict[str, list[str]] | None) -> int:
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    addresses = resolve(parts.hostname, port, allow_private=allow_private, pinned=pinned)
    cls = _PinnedHTTPS if secure else _PinnedHTTP
    conn = cls(parts.hostname, port, timeout=timeout)
    conn.addresses, conn.deadline = addresses, deadline
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    # The socket timeout bounds each read and write, not their sum: a receiver dripping a
    # byte a second would hold the worker for as long as it likes. At the deadline the
    # watchdog shuts the socket, which ends whatever read or write is under way.
    watchdog = threading.Timer(max(deadline - time.monotonic(), 0), conn.abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        if conn.aborted:  # the headers were cut short: their status may be anything
            raise AttemptTimedOut(f"timed out: no answer within {timeout:g} s")
        # The body is not kept, only read so that the exchange ends cleanly: one cut short
        # changes nothing, the status is the answer.
        with contextlib.suppress(OSError, http.client.HTTPException):
            response.read(64 * 1024)
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        if conn.aborted:
            raise AttemptTimedOut(f"timed out: no answer within {timeout:g} s") from exc
        raise
    finally:
        watchdog.cancel()
        conn.close()


class _Pinned:
    """Connects to the checked addresses in turn (the next only when one cannot be reached:
    once a request is sent, trying another would POST twice), within the attempt's deadline,
    each getting its share of the time left."""

    addresses: list[str]
    deadline: float
    aborted = False

    def _connect_checked(self) -> socket.socket:
        failures = []
        for n, address in enumerate(self.addresses):
            left = self.deadline - time.monotonic()
            if left <= 0:
                break
            try:
                sock = socket.create_connection((address, self.port),
                                                left / (len(self.addresses) - n))
            except OSError as exc:
                failures.append(exc)
                continue
            sock.settimeout(max(self.deadline - time.monotonic(), 0.001))
            return sock
        if not failures:
            raise AttemptTimedOut("timed out: no address reached in time")
        if len(failures) == 1:
            raise failures[0]
        raise ConnectionError("; ".join(
            f"{address}: {type(exc).__name__}: {exc}"
            for address, exc in zip(self.addresses, failures, strict=False)))

    def _raise_if_aborted(self) -> None:
        # The watchdog may have fired while the socket was being made, with none to shut.
        if self.aborted:
            raise AttemptTimedOut("timed out: connected too late")

    def abort(self) -> None:
        """From the watchdog thread: end the exchange under way."""
        self.aborted = True
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # closed already
                # The socket's own shutdown, under TLS too: SSLSocket's would first drop its
                # TLS state under the reading thread's feet.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _PinnedHTTP(_Pinned, http.client.HTTPConnection):
    """Connects to a checked address; the Host header keeps the URL's name."""

    def connect(self):
        self.sock = self._connect_checked()
        self._raise_if_aborted()


class _PinnedHTTPS(_Pinned, http.client.HTTPSConnection):
    """Connects to a checked address; TLS verifies the certificate for the URL's name."""

    def __init__(self, host, port, *, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())

    def connect(self):
        self.sock = self._connect_checked()  # the watchdog can shut it during the handshake
        self._raise_if_aborted()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)
