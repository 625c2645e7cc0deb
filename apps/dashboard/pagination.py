"""Keyset ("cursor") pages over a list ordered newest first by (created_at, id).

A page is the rows after (or before) the last one seen, read with one indexed range query of
page size + 1 rows: the extra row says whether there is a next page. Nothing is counted, so a
page costs the same at row 50 and at row 1,000,000, where OFFSET would read and drop every
row before it and a page count would COUNT(*) the table.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Q, QuerySet

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class BadPageLink(ValueError):
    """A page link this code did not write (an edited or truncated cursor, a page size out of
    bounds): the page says so with a 400, never a 500."""


def encode_cursor(created_at: datetime, pk: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, pk = raw.split("|")
        when = datetime.fromisoformat(moment)
        if when.tzinfo is None:
            raise ValueError("naive")
        # In UTC: PostgreSQL refuses offsets past ±15:59, which Python writes happily.
        return when.astimezone(UTC), uuid.UUID(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise BadPageLink("This page link is not valid; start again from the first page.") from exc


@dataclass
class Page:
    rows: list
    next_cursor: str | None
    prev_cursor: str | None
    size: int


def keyset_page(qs: QuerySet, *, after: str | None = None, before: str | None = None,
                size: int = DEFAULT_PAGE_SIZE) -> Page:
    """One page of `qs`, newest first; `after` / `before` are cursors from a previous page."""
    if before:
        when, pk = decode_cursor(before)
        # The bound on created_at alone is implied by the OR, but PostgreSQL uses only it as
        # an index condition: without it the OR is a filter over every row the index scan
        # passes, half the table half-way down (450 ms at 1,000,000 rows; 1 ms with it).
        newer = Q(created_at__gte=when) & (Q(created_at__gt=when) | Q(created_at=when, pk__gt=pk))
        rows = list(qs.filter(newer).order_by("created_at", "pk")[: size + 1])
        has_more = len(rows) > size
        rows = rows[:size][::-1]
        return Page(rows, _cursor(rows[-1]) if rows else None,
                    _cursor(rows[0]) if rows and has_more else None, size)
    rows_qs = qs.order_by("-created_at", "-pk")
    if after:
        when, pk = decode_cursor(after)
        rows_qs = rows_qs.filter(  # the redundant bound is the index condition (see above)
            Q(created_at__lte=when) & (Q(created_at__lt=when) | Q(created_at=when, pk__lt=pk)))
    rows = list(rows_qs[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    return Page(rows, _cursor(rows[-1]) if rows and has_more else None,
                _cursor(rows[0]) if rows and after else None, size)


def _cursor(row) -> str:
    return encode_cursor(row.created_at, row.pk)
