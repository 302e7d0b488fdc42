"""What every mount records of a request when it has answered: an access-log line and its
metrics; and the bodies' bytes as they stream."""

from __future__ import annotations

import time

from starlette.types import Message, Receive, Send

from bifrost_py.metrics.registry import Metrics
from bifrost_py.wire import access_log
from bifrost_py.wire.auth.credentials import Caller


class Observer:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def request(self, mount: str, request_id: str, caller: Caller | None, operation: str,
                status: int | None, started: float) -> None:
        access_log.record(mount, request_id, caller, operation, status, started)
        self.metrics.request(mount, operation, status, time.perf_counter() - started)

    def counted(self, mount: str, receive: Receive, send: Send) -> tuple[Receive, Send]:
        """`receive` and `send` that count the body bytes going through them."""
        received = self.metrics.body_bytes.labels(mount, "in")
        sent = self.metrics.body_bytes.labels(mount, "out")

        async def counting_receive() -> Message:
            message = await receive()
            received.inc(len(message.get("body", b"")))
            return message

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.body":
                sent.inc(len(message.get("body", b"")))
            await send(message)

        return counting_receive, counting_send
