"""An object's bytes as segments (blob id, size) in order: what each blob store reads of them."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from bifrost_py.store.blobs.protocol import Segment


def spans(segments: Sequence[Segment], start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """(blob id, first, last) for each blob holding some of bytes start..end (inclusive) of the
    concatenation; first and last count from the blob's own start."""
    offset = 0
    for blob_id, size in segments:
        first, last = max(start, offset), min(end, offset + size - 1)
        if first <= last:
            yield blob_id, first - offset, last - offset
        offset += size
        if offset > end:
            return


def total(segments: Sequence[Segment]) -> int:
    return sum(size for _, size in segments)


@asynccontextmanager
async def spooled(chunks: AsyncIterator[bytes], directory: Path) -> AsyncIterator[Path]:
    """`chunks` written to a temporary file in `directory`, removed afterwards."""
    with tempfile.NamedTemporaryFile(dir=directory) as local:
        async for chunk in chunks:
            local.write(chunk)
        local.flush()
        yield Path(local.name)
