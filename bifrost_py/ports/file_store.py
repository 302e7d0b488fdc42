"""The OpenAI dialect's files: named by id (`file-...`), kept per tenant, listed newest first.

Their bytes are objects like any other (a bucket no S3 client can name), so the engines read a
batch's input and write its output and error files through the same Objects port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from bifrost_py.domain.tenancy import FILES_BUCKET, stored_bucket
from bifrost_py.ports.files import Blob


@dataclass(frozen=True)
class StoredFile:
    file_id: str
    tenant: str
    filename: str
    purpose: str
    bytes: int
    created_at: int  # seconds since the epoch, as OpenAI gives them
    expires_at: int | None = None

    @property
    def bucket(self) -> str:
        """Where its bytes are, in the Objects store."""
        return stored_bucket(self.tenant, FILES_BUCKET)

    @property
    def uri(self) -> str:
        """The s3:// URI a job names it by (the bucket as its tenant sees it)."""
        return f"s3://{FILES_BUCKET}/{self.file_id}"


class FileStore(Protocol):
    async def create(self, tenant: str, filename: str, purpose: str, blobs: list[Blob],
                     expires_at: int | None = None) -> StoredFile:
        """Publish written blobs (one, or an upload's parts in order) as a new file."""

    async def write(self, tenant: str, filename: str, purpose: str,
                    chunks: AsyncIterator[bytes]) -> StoredFile:
        """A file the server makes itself (a batch's output)."""

    async def purge_expired(self, now: float) -> int:
        """Delete a batch of files past their expires_at, bytes and all: how many (0 when none
        is left)."""

    async def get(self, tenant: str, file_id: str) -> StoredFile:
        """The tenant's file; NotFoundError for any other (another tenant's included)."""

    async def page(self, tenant: str, purpose: str | None, after: str | None, limit: int,
                   ascending: bool) -> list[StoredFile]:
        """Up to `limit` files after the file `after`, newest first unless `ascending`."""

    async def delete(self, tenant: str, file_id: str) -> None: ...

    def read(self, file: StoredFile) -> AsyncIterator[bytes]: ...
