"""The S3 pass-through: a provider whose files are a real S3 (bedrock) gets each S3 request as the
client sent it, signed anew with the server's credentials, and its answer relayed unchanged.

The S3 mount reads the client's request (its tenant, its aws-chunked framing and chunk
signatures); the provider only signs and sends, so neither knows the other's side.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class Relayed(Protocol):
    """An upstream answer on its way back to the client."""

    status: int
    headers: list[tuple[bytes, bytes]]

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; UpstreamUnavailable if the upstream cuts it short."""

    async def read(self) -> bytes: ...

    async def aclose(self) -> None: ...


class S3Upstream(Protocol):
    async def send(self, method: str, raw_path: str, raw_query: str, headers: dict[str, str],
                   body: AsyncIterator[bytes] | None, payload_hash: str) -> Relayed:
        """The request with `raw_path` and `raw_query` exactly as given, `headers` by lower-case
        name, the body streamed; UpstreamError when it cannot be signed or sent."""

    async def aclose(self) -> None: ...


class BucketOwnership(Protocol):
    """Which tenant created each bucket of the pass-through: real S3 has one namespace per AWS
    account, so tenancy there is kept by the server."""

    async def visible(self, bucket: str, tenant: str) -> bool:
        """False for a bucket another tenant created through the server."""

    async def claim(self, bucket: str, tenant: str) -> None: ...

    async def release(self, bucket: str) -> None: ...
