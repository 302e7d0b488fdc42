"""One structured line per request: request id, tenant, operation, status, duration.

Never a signature, a key's secret or a provider key: only the tenant and the access key id.
"""

from __future__ import annotations

import logging
import time

import orjson

from bifrost_py.wire.auth.credentials import Caller

log = logging.getLogger("bifrost_py.access")


def record(mount: str, request_id: str, caller: Caller | None, operation: str,
           status: int | None, started: float) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    log.info(orjson.dumps({
        "mount": mount, "request_id": request_id,
        "tenant": caller.key.tenant if caller else None,
        "access_key_id": caller.key.access_key_id if caller else None,
        "operation": operation, "status": status,
        "ms": round((time.perf_counter() - started) * 1000, 2),
    }).decode())
