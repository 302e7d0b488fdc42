"""OpenAI's Uploads as the wire asks them of a store: an upload's row, its parts' blobs, and the
file completing it makes (through the Files API's own store, so it is a file like any other)."""

from __future__ import annotations

from typing import Protocol

from bifrost_py.domain.file_uploads import FileUpload, UploadPart
from bifrost_py.ports.file_store import StoredFile
from bifrost_py.ports.files import Blob


class FileUploads(Protocol):
    async def create(self, tenant: str, filename: str, purpose: str, size: int, mime_type: str,
                     file_lifetime: int | None) -> FileUpload:
        """A new pending upload; overdue ones are marked expired and their parts freed first."""

    async def pending(self, tenant: str, upload_id: str) -> FileUpload:
        """The tenant's upload if it still takes parts: NotFoundError for an unknown one (another
        tenant's included), InvalidRequestError for one that has ended."""

    async def uploaded_bytes(self, upload_id: str) -> int:
        """What the upload's parts hold together."""

    async def add_part(self, upload: FileUpload, blob: Blob) -> UploadPart:
        """Publish a written blob (inline=False) as a part; it is freed if the upload has ended
        meanwhile."""

    async def parts(self, upload_id: str) -> list[UploadPart]: ...

    async def md5(self, parts: list[UploadPart]) -> str:
        """Hex MD5 of the parts' bytes in order, hashed off the event loop."""

    async def complete(self, upload: FileUpload, parts: list[UploadPart],
                       ) -> tuple[FileUpload, StoredFile]:
        """Make `parts`, in order, the upload's file in one transaction; free the others."""

    async def cancel(self, upload: FileUpload) -> FileUpload: ...

    async def expire_overdue(self) -> None:
        """Mark pending uploads past their expires_at expired and free their parts."""

    async def forget_ended(self, now: float) -> int:
        """Delete the rows of uploads that ended (completed, cancelled, expired) more than a
        day past their expires_at: how many."""
