"""How a webhook delivery is signed, so its receiver can tell it came from this server and was
not replayed: HMAC-SHA256 with the webhook's secret over `<timestamp>.<body>`."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE = "X-Bifrost-Signature"   # sha256=<hex>
TIMESTAMP = "X-Bifrost-Timestamp"   # seconds since the epoch, as signed
EVENT = "X-Bifrost-Event"           # job.completed, job.failed, ...
DELIVERY = "X-Bifrost-Delivery"     # the event's id: the same on every retry of it


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
