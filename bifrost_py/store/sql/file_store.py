"""The OpenAI dialect's files: a row per file, its bytes an object of the tenant's
reserved files bucket, both written in one transaction."""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import AsyncIterator
from typing import Any

from bifrost_py.domain.objects import ObjectInfo
from bifrost_py.errors import NotFoundError
from bifrost_py.ports.file_store import StoredFile
from bifrost_py.ports.files import NO_CONDITIONS, Blob
from bifrost_py.store.sql.database import Connection
from bifrost_py.store.sql.objects import ObjectStore

_ID_ALPHABET = string.ascii_letters + string.digits
_CONTENT_TYPE = "application/octet-stream"
# A file past its expires_at is gone to its tenant; its row and bytes go at the next purge.
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
PURGE_BATCH = 500  # files a purge transaction deletes at most, so none holds locks for long


def new_file_id() -> str:
    return "file-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def new_file(tenant: str, filename: str, purpose: str, size: int,
             expires_at: int | None) -> StoredFile:
    return StoredFile(new_file_id(), tenant, filename, purpose, size, int(time.time()),
                      expires_at)


def file_contents(file: StoredFile, segments: tuple[tuple[str, int], ...],
                  inline: bytes | None = None) -> ObjectInfo:
    """The object holding a file's bytes: in its row, or published blobs in order."""
    return ObjectInfo(bucket=file.bucket, key=file.file_id, size=file.bytes,
                      etag=f'"{file.file_id}"', modified=time.time(), content_type=_CONTENT_TYPE,
                      parts_count=len(segments) if len(segments) > 1 else None, data=inline,
                      blobs=segments)


class SqlFileStore:
    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects
        self.db = objects.db

    async def create(self, tenant: str, filename: str, purpose: str, blobs: list[Blob],
                     expires_at: int | None = None) -> StoredFile:
        file = new_file(tenant, filename, purpose, sum(b.size for b in blobs), expires_at)
        inline = blobs[0].data if len(blobs) == 1 else None
        obj = file_contents(file, tuple((b.id, b.size) for b in blobs) if inline is None else (),
                            inline)
        for blob in blobs:
            self.objects.blobs.publish(blob)
        try:
            await self.db.transaction(lambda conn: self.insert(conn, file, obj))
        except BaseException:
            self.objects.blobs.delete(b for b, _ in obj.blobs)
            raise
        return file

    def insert(self, conn: Connection, file: StoredFile, obj: ObjectInfo) -> None:
        """Inside a write transaction: the file's row and its bytes' object."""
        self.objects.ensure_bucket(conn, file.bucket)
        self.objects.replace(conn, obj, NO_CONDITIONS)
        conn.execute("INSERT INTO files (file_id, tenant, filename, purpose, bytes, created_at, "
                     "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (file.file_id, file.tenant, file.filename, file.purpose, file.bytes,
                      file.created_at, file.expires_at))

    async def write(self, tenant: str, filename: str, purpose: str,
                    chunks: AsyncIterator[bytes]) -> StoredFile:
        blob = await self.objects.blobs.write(chunks, max_size=2**63)
        return await self.create(tenant, filename, purpose, [blob])

    async def get(self, tenant: str, file_id: str) -> StoredFile:
        row = await self.db.fetchone(
            f"SELECT * FROM files WHERE file_id = ? AND tenant = ? AND {_LIVE}",
            (file_id, tenant, int(time.time())))
        if row is None:
            raise NotFoundError(f"No such File object: {file_id}", param="id")
        return _file(row)

    async def page(self, tenant: str, purpose: str | None, after: str | None, limit: int,
                   ascending: bool) -> list[StoredFile]:
        clauses: list[str] = ["tenant = ?", _LIVE]
        params: list[str | int] = [tenant, int(time.time())]
        if purpose:
            clauses.append("purpose = ?")
            params.append(purpose)
        if after:
            cursor = await self.get(tenant, after)
            clauses.append(f"(created_at, file_id) {'>' if ascending else '<'} (?, ?)")
            params += [cursor.created_at, cursor.file_id]
        order = "ASC" if ascending else "DESC"
        rows = await self.db.fetchall(
            f"SELECT * FROM files WHERE {' AND '.join(clauses)} "
            f"ORDER BY created_at {order}, file_id {order} LIMIT ?", [*params, limit])
        return [_file(row) for row in rows]

    async def delete(self, tenant: str, file_id: str) -> None:
        file = await self.get(tenant, file_id)

        def delete(conn: Connection) -> ObjectInfo | None:
            conn.execute("DELETE FROM files WHERE file_id = ?", (file_id,))
            return self.objects.remove(conn, file.bucket, file.file_id)

        self.objects.retire(await self.db.transaction(delete))

    async def purge_expired(self, now: float) -> int:
        """Delete up to PURGE_BATCH files past their expires_at, bytes and all: how many."""
        def purge(conn: Connection) -> list[ObjectInfo | None]:
            rows = conn.execute("SELECT * FROM files WHERE expires_at <= ? "
                                "ORDER BY expires_at LIMIT ?", (int(now), PURGE_BATCH)).fetchall()
            removed = []
            for file in map(_file, rows):
                conn.execute("DELETE FROM files WHERE file_id = ?", (file.file_id,))
                removed.append(self.objects.remove(conn, file.bucket, file.file_id))
            return removed

        removed = await self.db.transaction(purge)
        for obj in removed:
            self.objects.retire(obj)
        return len(removed)

    def read(self, file: StoredFile) -> AsyncIterator[bytes]:
        return self._read(file)

    async def _read(self, file: StoredFile) -> AsyncIterator[bytes]:
        obj = await self.objects.get(file.bucket, file.file_id)
        async for chunk in self.objects.read(obj, 0, obj.size - 1):
            yield chunk


def _file(row: Any) -> StoredFile:
    return StoredFile(row["file_id"], row["tenant"], row["filename"], row["purpose"],
                      row["bytes"], row["created_at"], row["expires_at"])
