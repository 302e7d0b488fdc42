"""Timestamps as AWS writes them in XML and JSON bodies: ISO 8601, UTC, milliseconds."""

from __future__ import annotations

import time


def iso(timestamp: float) -> str:
    millis = int(timestamp * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp)) + f".{millis:03d}Z"
