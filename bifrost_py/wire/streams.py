"""Bodies streamed from the store to a client."""

from __future__ import annotations

from collections.abc import AsyncIterator


async def primed(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`body` with its first chunk already read: a blob store that cannot serve it (its bucket
    down) fails here, while the error can still be an answer rather than a cut-off body."""
    first = await anext(body, b"")

    async def rest() -> AsyncIterator[bytes]:
        yield first
        async for chunk in body:
            yield chunk

    return rest()
