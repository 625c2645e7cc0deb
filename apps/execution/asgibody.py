"""Reading a request body in an ASGI middleware without losing any of it for the app."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Body:
    data: bytes
    complete: bool  # the whole body was read (False: more follows, or the client left)
    gone: bool = False  # the client disconnected before the body ended


async def read_body(receive, *, limit: int) -> Body:
    """Up to `limit` bytes of the body; past it, stop reading (the rest stays unread)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return Body(b"".join(chunks), complete=False, gone=True)
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False)
        if not more:
            return Body(b"".join(chunks), complete=True)
        if size > limit:
            return Body(b"".join(chunks), complete=False)


def replay(body: Body, receive):
    """A `receive` for the app: what was read, then the rest from the client. Each call
    gives a fresh one (a request run twice reads its body twice)."""
    def fresh():
        sent = False

        async def again():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body.data,
                        "more_body": not body.complete and not body.gone}
            if body.gone:
                return {"type": "http.disconnect"}
            return await receive()

        return again

    return fresh
