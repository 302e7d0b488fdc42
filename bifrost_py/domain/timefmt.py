"""Timestamps as AWS writes them in XML and JSON bodies: ISO 8601, UTC, milliseconds."""

from __future__ import annotations

import functools
import time


def iso(timestamp: float) -> str:
    millis = int(timestamp * 1000) % 1000
    return f"{_seconds(int(timestamp))}.{millis:03d}Z"


def iso_seconds(timestamp: float) -> str:
    """To the second, as EventBridge writes an event's time."""
    return f"{_seconds(int(timestamp))}Z"


@functools.lru_cache(maxsize=8192)
def _seconds(whole: int) -> str:
    # A page of 1,000 jobs formats 4,000 timestamps, most sharing their second with another.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
