"""Every change to API tokens, and the login flow that issues them."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import connections
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.exceptions import DomainError

from . import ratelimit
from .models import ApiToken

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest

TOKEN_PREFIX = "tm_"
# Longer passwords are refused before hashing: a slow hash of megabytes is a cheap DoS.
PASSWORD_MAX_LENGTH = 4096
# Longer input than any token we issue is rejected before hashing or querying.
TOKEN_MAX_LENGTH = 128
# last_used_at is informational; refreshing it at most this often keeps authentication from
# turning every API request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)


class InvalidCredentials(DomainError):
    """Username and password do not match an active user."""


class LoginRateLimited(DomainError):
    def __init__(self, retry_after: int):
        super().__init__(f"Too many login attempts; retry in {retry_after} s.")
        self.retry_after = retry_after


def hash_token(*, raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_issue(
    *, user: AbstractBaseUser, name: str = "api", ttl: timedelta | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns it with the raw token, which is never stored.

    `ttl` defaults to settings.API_TOKEN_TTL, read at call time (not at import) so that
    configuration and override_settings apply.
    """
    if ttl is None:
        ttl = settings.API_TOKEN_TTL
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        key_prefix=raw[:8],
        key_hash=hash_token(raw=raw),
        created_at=now,
        expires_at=now + ttl,
    )
    return token, raw


def tokens_revoke(*, tokens: QuerySet[ApiToken]) -> int:
    """Revoke every not-yet-revoked token in `tokens` with one UPDATE; returns how many."""
    # Already revoked tokens keep their original revoked_at: it records when access ended.
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def token_revoke(*, token: ApiToken) -> bool:
    """Revoke one token; idempotent. Returns False if it was already revoked."""
    revoked = tokens_revoke(tokens=ApiToken.objects.filter(pk=token.pk)) == 1
    token.refresh_from_db(fields=["revoked_at"])
    return revoked


def token_revoke_all(*, user: AbstractBaseUser) -> int:
    """Revoke all of a user's tokens (password change, offboarding) with one UPDATE."""
    return tokens_revoke(tokens=ApiToken.objects.filter(user=user))


def token_authenticate(*, raw: str) -> ApiToken | None:
    """The active token matching `raw`, with its user loaded, or None.

    One SELECT (token and user joined, see _token_query) answers everything: revoked, expired
    and inactive users are filtered in SQL. At most one conditional UPDATE per
    LAST_USED_RESOLUTION follows.
    """
    if not raw or len(raw) > TOKEN_MAX_LENGTH or not raw.startswith(TOKEN_PREFIX):
        return None
    now = timezone.now()
    token = _active_token(hash_token(raw=raw), now)
    if token is None:
        return None
    stale_before = now - LAST_USED_RESOLUTION
    if token.last_used_at is None or token.last_used_at < stale_before:
        # Conditional, so a burst of parallel requests with the same token writes once: the
        # first UPDATE moves last_used_at forward and the others match no row.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale_before)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


@functools.cache
def _token_query(alias: str) -> tuple[str, list, list, list]:
    """The token-and-user SELECT, written once per process (and database).

    Every API request runs it: building it through the ORM each time (a queryset, lookups,
    a compiler) cost more CPU than PostgreSQL spent answering it. Returns the SQL, the token's
    and the user's concrete fields, and the converters of each selected column (what the ORM
    applies to the rows it reads, e.g. SQLite's text into datetimes).
    """
    connection = connections[alias]
    quote = connection.ops.quote_name
    user_model = ApiToken._meta.get_field("user").related_model
    token_fields = list(ApiToken._meta.concrete_fields)
    user_fields = list(user_model._meta.concrete_fields)
    t, u = quote(ApiToken._meta.db_table), quote(user_model._meta.db_table)
    columns = [f"{t}.{quote(f.column)}" for f in token_fields]
    columns += [f"{u}.{quote(f.column)}" for f in user_fields]
    column = {f.name: quote(f.column) for f in token_fields}
    sql = (
        f"SELECT {', '.join(columns)} FROM {t} INNER JOIN {u} ON "
        f"{t}.{column['user']} = {u}.{quote(user_model._meta.pk.column)} "
        f"WHERE {t}.{column['key_hash']} = %s AND {t}.{column['revoked_at']} IS NULL "
        f"AND {t}.{column['expires_at']} > %s "
        f"AND {u}.{quote(user_model._meta.get_field('is_active').column)} = %s"
    )
    converters = []
    for field in (*token_fields, *user_fields):
        col = field.get_col(field.model._meta.db_table)
        found = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
        converters.append((found, col))
    return sql, token_fields, user_fields, converters


def _active_token(key_hash: str, now) -> ApiToken | None:
    """The unrevoked, unexpired token with this hash whose user is active, user loaded."""
    connection = connections[ApiToken.objects.db]
    sql, token_fields, user_fields, converters = _token_query(connection.alias)
    expires_after = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(sql, [key_hash, expires_after, True])
        row = cursor.fetchone()  # key_hash is unique: one row at most
    if row is None:
        return None
    values = list(row)
    for i, (found, col) in enumerate(converters):
        for convert in found:
            values[i] = convert(values[i], col, connection)
    split = len(token_fields)
    user_model = user_fields[0].model
    user = user_model.from_db(connection.alias, [f.attname for f in user_fields],
                              values[split:])
    token = ApiToken.from_db(connection.alias, [f.attname for f in token_fields],
                             values[:split])
    ApiToken._meta.get_field("user").set_cached_value(token, user)
    return token


def client_rate_key(*, ip: str) -> str:
    """The rate-limit identity of a client address.

    An IPv6 client usually controls a whole /64, so it is counted per /64; otherwise rotating
    through its addresses would reset the limit at will.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is the IPv4 client 192.0.2.1
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _digest(username: str) -> str:
    # The username is attacker-chosen input of any length; its digest keeps keys bounded.
    return hashlib.sha256(username.encode()).hexdigest()[:32]


def _known_client_key(username: str, client: str) -> str:
    return f"login:known:{_digest(username)}:{client}"


def login_rate_check(*, username: str, client_ip: str) -> None:
    """Count a login attempt; raise LoginRateLimited if one of its limits is exceeded.

    Three exact counters: per client (whatever usernames it tries), per username from this
    client, and per username from all clients. The last one is a ceiling against guessing one
    account from many addresses, and the only one an attacker elsewhere can fill: a client
    that signed in as this user recently is exempt from it, so the real person still gets in.

    Every attempt counts, successful or not: the decision is made before the password is
    checked, which keeps each counter a single atomic INCR (counting only failures would need
    a check-then-increment, which races).
    """
    window = settings.LOGIN_RATE_WINDOW_SECONDS
    client = client_rate_key(ip=client_ip)
    user = _digest(username)
    limits = [
        (f"login:client:{client}", settings.LOGIN_RATE_PER_CLIENT),
        (f"login:user-client:{user}:{client}", settings.LOGIN_RATE_PER_USERNAME_CLIENT),
    ]
    if not ratelimit.remembered(_known_client_key(username, client)):
        limits.append((f"login:username:{user}", settings.LOGIN_RATE_PER_USERNAME))
    for key, limit in limits:
        allowed, retry_after = ratelimit.hit(key, limit=limit, window=window)
        if not allowed:
            raise LoginRateLimited(retry_after)


def login_authenticate(
    *, username: str, password: str, client_ip: str, request: HttpRequest | None = None
) -> AbstractBaseUser:
    """Every way in (API token, admin, pages) signs in here: rate-limit, then authenticate.

    Raises LoginRateLimited before the password is looked at, or InvalidCredentials.
    """
    login_rate_check(username=username, client_ip=client_ip)
    # django.contrib.auth.authenticate runs the configured backends (ModelBackend rejects
    # inactive users and evens out timing for unknown usernames) and sends
    # user_login_failed, so auditing hooks see every login the same way.
    user = authenticate(request, username=username, password=password)
    if user is None:
        raise InvalidCredentials("Unable to log in with the provided credentials.")
    ratelimit.remember(
        _known_client_key(username, client_rate_key(ip=client_ip)),
        seconds=settings.LOGIN_KNOWN_CLIENT_DAYS * 86400,
    )
    return user


def token_obtain(
    *,
    username: str,
    password: str,
    client_ip: str,
    request: HttpRequest | None = None,
    name: str = "api",
) -> tuple[ApiToken, str]:
    """Log in with username and password: rate-limit, authenticate, issue a token.

    Raises LoginRateLimited or InvalidCredentials.
    """
    user = login_authenticate(
        username=username, password=password, client_ip=client_ip, request=request
    )
    return token_issue(user=user, name=name)
