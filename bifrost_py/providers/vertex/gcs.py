"""Cloud Storage where Vertex AI reads batch inputs and writes outputs: the configured
`gs://bucket/prefix/`, through google-cloud-storage (resumable uploads beyond 8 MiB, streamed
from and to files, never held in memory). The client is blocking: its calls run on threads."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import requests
from google.api_core import exceptions as api_errors
from google.auth import exceptions as auth_errors
from google.cloud import storage

from bifrost_py.config import VertexConfig
from bifrost_py.ports.upstream import (
    UpstreamAuth,
    UpstreamError,
    UpstreamUnavailable,
    status_error,
)
from bifrost_py.providers.vertex.auth import PROVIDER, Tokens

T = TypeVar("T")
_GS_URI = re.compile(r"^gs://([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])/(.*)$")


def split_gs_uri(uri: str) -> tuple[str, str]:
    """(bucket, object name or prefix) of a gs:// URI; ValueError when it is not one."""
    match = _GS_URI.match(uri)
    if match is None:
        raise ValueError(f"{uri!r} is not a gs://bucket/... URI")
    return match.group(1), match.group(2)


class Staging:
    def __init__(self, settings: VertexConfig, tokens: Tokens) -> None:
        self.settings = settings
        self.tokens = tokens
        bucket, prefix = split_gs_uri(settings.staging_uri)
        self.bucket_name = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self._client: storage.Client | None = None

    def uri(self, name: str) -> str:
        return f"gs://{self.bucket_name}/{self.prefix}{name}"

    async def upload(self, name: str, content: bytes | Path, content_type: str) -> str:
        """Put `content` (bytes, or the file at a path) at `name` under the prefix; its URI."""
        blob = self._bucket().blob(self.prefix + name)
        if isinstance(content, Path):
            await self._run(lambda: blob.upload_from_filename(str(content),
                                                              content_type=content_type))
        else:
            await self._run(lambda: blob.upload_from_string(content, content_type=content_type))
        return self.uri(name)

    async def names(self, directory: str) -> list[str]:
        """The object names directly in a gs:// directory (not in its subdirectories)."""
        bucket, prefix = split_gs_uri(directory.rstrip("/") + "/")
        client = self._storage()
        return await self._run(lambda: [blob.name for blob in client.list_blobs(
            bucket, prefix=prefix, delimiter="/")])

    async def download(self, bucket: str, name: str, path: Path) -> None:
        blob = self._storage().bucket(bucket).blob(name)
        await self._run(lambda: blob.download_to_filename(str(path)))

    async def delete(self, uri: str) -> None:
        """Delete an object; one already gone is no error."""
        bucket, name = split_gs_uri(uri)
        blob = self._storage().bucket(bucket).blob(name)
        try:
            await self._run(blob.delete)
        except UpstreamError as failure:
            if failure.status != 404:
                raise

    async def aclose(self) -> None:
        if self._client is not None:
            await asyncio.to_thread(self._client.close)

    def _bucket(self) -> storage.Bucket:
        return self._storage().bucket(self.bucket_name)

    def _storage(self) -> storage.Client:
        if self._client is None:
            options = {"api_endpoint": self.settings.storage_url} if (
                self.settings.storage_url) else None
            self._client = storage.Client(project=self.settings.project,
                                          credentials=self.tokens.credentials,
                                          client_options=options)
        return self._client

    async def _run(self, call: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(call)
        except api_errors.GoogleAPICallError as exc:
            code = int(exc.code or 500)
            if code in (401, 403):
                raise UpstreamAuth(PROVIDER, f"Cloud Storage refused the server's credentials "
                                   f"({code}: {exc.message})", code) from None
            raise status_error(PROVIDER, code, f"Cloud Storage: {code}: {exc.message}") from None
        except (requests.RequestException, auth_errors.TransportError) as exc:
            raise UpstreamUnavailable(PROVIDER, "cannot reach Cloud Storage "
                                      f"({type(exc).__name__})") from None
        except auth_errors.RefreshError as exc:
            raise UpstreamAuth(PROVIDER, f"Google refused the server's credentials ({exc})",
                               401) from None
