"""HTTP ``Range`` request headers, interpreted the way S3 interprets them.

S3 serves at most one byte range. A header it cannot parse (another unit, several ranges, garbage)
is ignored and the whole object comes back with 200; a well-formed range that selects no byte of
the object is a 416 ``InvalidRange``.
"""

from __future__ import annotations

import re

# [0-9], not \d: \d also matches non-ASCII digits, which int() would then happily accept.
_RANGE = re.compile(r"bytes=(?:([0-9]+)-([0-9]*)|-([0-9]+))", re.IGNORECASE)
# No client sends a Range header anywhere near this long; capping it keeps int() well inside
# Python's limit on decimal digits it will convert (4300 by default, 640 at the lowest).
_MAX_HEADER = 256


class RangeNotSatisfiable(ValueError):
    """The range is well-formed but selects no byte of the object (S3's 416 InvalidRange)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return the inclusive ``(start, end)`` to serve, or None to serve the whole object (200).

    Raises ``RangeNotSatisfiable`` for a well-formed range outside an object of ``size`` bytes.
    """
    if header is None or len(header) > _MAX_HEADER:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last, suffix = match.groups()
    if suffix is not None:
        length = int(suffix)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(f"bytes=-{suffix} selects no byte of a {size}-byte object")
        return max(size - length, 0), size - 1
    start = int(first)
    end = int(last) if last else None
    if end is not None and start > end:
        return None
    if start >= size:
        raise RangeNotSatisfiable(f"range starts at {start}, the object has {size} bytes")
    return start, size - 1 if end is None else min(end, size - 1)


def content_range(start: int, end: int, size: int) -> str:
    """The ``Content-Range`` value of a 206 answering ``parse_range``'s ``(start, end)``."""
    return f"bytes {start}-{end}/{size}"
