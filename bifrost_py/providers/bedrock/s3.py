"""The bedrock provider's files: S3 requests sent to real S3, signed with the server's credentials.

The S3 mount hands over each request as the client sent it (raw path and query, its headers, the
plain body); this signs it (botocore's S3 signer, over the canonical forms S3 derives, with the
payload hash given so the body streams unhashed) and sends it path-style. S3's answer, errors
included, goes back as it came.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from bifrost_py.aws.sigv4 import sign_s3
from bifrost_py.config import BedrockConfig
from bifrost_py.ports.upstream import UpstreamUnavailable
from bifrost_py.providers.bedrock.credentials import bedrock_credentials

PROVIDER = "bedrock"


class S3Endpoint:
    def __init__(self, settings: BedrockConfig) -> None:
        self.settings = settings
        self.endpoint = (settings.s3_endpoint_url
                         or f"https://s3.{settings.region}.amazonaws.com").rstrip("/")
        self.credentials = bedrock_credentials(settings)
        # Requests are built by hand (never client.build_request), so no cookie one client's
        # answer set is ever sent on another client's request.
        self.client = httpx.AsyncClient(timeout=settings.timeout_seconds, follow_redirects=False)

    async def send(self, method: str, raw_path: str, raw_query: str, headers: dict[str, str],
                   body: AsyncIterator[bytes] | None, payload_hash: str) -> S3Answer:
        signing = sign_s3(method, self.endpoint, raw_path, raw_query, list(headers.items()),
                          await self.credentials.current(), self.settings.region, payload_hash)
        sent = dict(headers)
        if "accept-encoding" not in sent:
            sent["accept-encoding"] = "identity"  # not httpx's default: S3 sees what came
        url = httpx.URL(self.endpoint)
        url = url.copy_with(raw_path=url.raw_path.rstrip(b"/") + raw_path.encode("latin-1")
                            + (b"?" + raw_query.encode("latin-1") if raw_query else b""))
        request = httpx.Request(method, url, headers=[*sent.items(), *signing], content=body)
        try:
            return S3Answer(await self.client.send(request, stream=True), self.endpoint)
        except httpx.TransportError as exc:
            raise _unavailable(self.endpoint, exc) from None

    async def aclose(self) -> None:
        await self.client.aclose()


class S3Answer:
    """S3's answer, streamed."""

    def __init__(self, response: httpx.Response, endpoint: str) -> None:
        self._response = response
        self._endpoint = endpoint
        self.status = response.status_code
        self.headers: list[tuple[bytes, bytes]] = list(response.headers.raw)

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.TransportError as exc:
            raise _unavailable(self._endpoint, exc) from None

    async def read(self) -> bytes:
        try:
            return await self._response.aread()
        except httpx.TransportError as exc:
            raise _unavailable(self._endpoint, exc) from None

    async def aclose(self) -> None:
        await self._response.aclose()


def _unavailable(endpoint: str, exc: Exception) -> UpstreamUnavailable:
    return UpstreamUnavailable(PROVIDER, f"the S3 endpoint {endpoint} is unavailable "
                                         f"({type(exc).__name__})", 503)
