"""OpenAI's Uploads. A part's blob is published before its row commits, so a crash
between the two leaves only an unreferenced blob for the start-up sweep; completing makes the
parts' blobs the file's segments in the transaction that deletes the part rows: no byte is
copied, and no moment has the blobs owned by both or by neither."""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from typing import Any

from bifrost_py.domain.file_uploads import (
    CANCELLED,
    COMPLETED,
    EXPIRED,
    LIFETIME,
    PENDING,
    FileUpload,
    UploadPart,
    require_pending,
)
from bifrost_py.errors import NotFoundError
from bifrost_py.ports.file_store import StoredFile
from bifrost_py.ports.files import Blob
from bifrost_py.store.sql.database import Connection
from bifrost_py.store.sql.file_store import SqlFileStore, file_contents, new_file

ENDED_KEPT = 24 * 3600  # seconds an ended upload's row outlives its expires_at


class SqlFileUploads:
    def __init__(self, files: SqlFileStore) -> None:
        self.files = files
        self.db = files.db
        self.blobs = files.objects.blobs

    async def create(self, tenant: str, filename: str, purpose: str, size: int, mime_type: str,
                     file_lifetime: int | None) -> FileUpload:
        await self.expire_overdue()
        now = int(time.time())
        upload = FileUpload("upload_" + secrets.token_hex(16), tenant, filename, purpose, size,
                            mime_type, now, now + LIFETIME, PENDING, file_lifetime)
        await self.db.transaction(lambda conn: conn.execute(
            "INSERT INTO file_uploads (upload_id, tenant, filename, purpose, bytes, mime_type, "
            "created_at, expires_at, status, file_lifetime) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (upload.upload_id, tenant, filename, purpose, size, mime_type, upload.created_at,
             upload.expires_at, PENDING, file_lifetime)))
        return upload

    async def pending(self, tenant: str, upload_id: str) -> FileUpload:
        row = await self.db.fetchone(
            "SELECT * FROM file_uploads WHERE upload_id = ? AND tenant = ?", (upload_id, tenant))
        if row is None:
            raise NotFoundError(f"No such Upload object: {upload_id}", param="id")
        upload = _upload(row)
        require_pending(upload, time.time())
        return upload

    async def uploaded_bytes(self, upload_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT COALESCE(SUM(size), 0) AS size FROM file_upload_parts WHERE upload_id = ?",
            (upload_id,))
        return int(row["size"]) if row else 0

    async def add_part(self, upload: FileUpload, blob: Blob) -> UploadPart:
        assert blob.data is None, "a part must be written with inline=False"
        part = UploadPart("part_" + secrets.token_hex(16), upload.upload_id, int(time.time()),
                          blob.size, blob.id)

        def insert(conn: Connection) -> None:
            _still_pending(conn, upload)
            conn.execute("INSERT INTO file_upload_parts (part_id, upload_id, created_at, size, "
                         "blob) VALUES (?, ?, ?, ?, ?)",
                         (part.part_id, part.upload_id, part.created_at, part.size, part.blob))

        self.blobs.publish(blob)
        try:
            await self.db.transaction(insert)
        except BaseException:
            self.blobs.delete([blob.id])
            raise
        return part

    async def parts(self, upload_id: str) -> list[UploadPart]:
        rows = await self.db.fetchall(
            "SELECT * FROM file_upload_parts WHERE upload_id = ? ORDER BY created_at, part_id",
            (upload_id,))
        return [_part(row) for row in rows]

    async def md5(self, parts: list[UploadPart]) -> str:
        return await self.blobs.md5([(part.blob, part.size) for part in parts])

    async def complete(self, upload: FileUpload, parts: list[UploadPart],
                       ) -> tuple[FileUpload, StoredFile]:
        file = new_file(upload.tenant, upload.filename, upload.purpose, upload.bytes, None)
        if upload.file_lifetime is not None:
            file = replace(file, expires_at=file.created_at + upload.file_lifetime)
        obj = file_contents(file, tuple((part.blob, part.size) for part in parts))

        def publish(conn: Connection) -> list[str]:
            _still_pending(conn, upload)
            self.files.insert(conn, file, obj)
            conn.execute("UPDATE file_uploads SET status = ?, file_id = ? WHERE upload_id = ?",
                         (COMPLETED, file.file_id, upload.upload_id))
            return _drop_parts(conn, upload.upload_id)

        used = {part.blob for part in parts}
        left_out = [blob for blob in await self.db.transaction(publish) if blob not in used]
        self.blobs.delete_later(left_out)
        return replace(upload, status=COMPLETED, file_id=file.file_id), file

    async def cancel(self, upload: FileUpload) -> FileUpload:
        def cancel(conn: Connection) -> list[str]:
            _still_pending(conn, upload)
            conn.execute("UPDATE file_uploads SET status = ? WHERE upload_id = ?",
                         (CANCELLED, upload.upload_id))
            return _drop_parts(conn, upload.upload_id)

        self.blobs.delete_later(await self.db.transaction(cancel))
        return replace(upload, status=CANCELLED)

    async def forget_ended(self, now: float) -> int:
        # Their parts went when they ended; the rows only answer a late complete or cancel.
        return await self.db.transaction(lambda conn: conn.execute(
            "DELETE FROM file_uploads WHERE status != ? AND expires_at <= ?",
            (PENDING, int(now - ENDED_KEPT))).rowcount)

    async def expire_overdue(self) -> None:
        def expire(conn: Connection) -> list[str]:
            overdue = [row["upload_id"] for row in conn.execute(
                "SELECT upload_id FROM file_uploads WHERE status = ? AND expires_at <= ?",
                (PENDING, int(time.time())))]
            conn.executemany("UPDATE file_uploads SET status = ? WHERE upload_id = ?",
                             [(EXPIRED, upload_id) for upload_id in overdue])
            return [blob for upload_id in overdue for blob in _drop_parts(conn, upload_id)]

        self.blobs.delete_later(await self.db.transaction(expire))


def _still_pending(conn: Connection, upload: FileUpload) -> None:
    """Inside a write transaction: the upload has not ended since it was read."""
    row = conn.execute("SELECT status FROM file_uploads WHERE upload_id = ?",
                       (upload.upload_id,)).fetchone()
    require_pending(replace(upload, status=row["status"]), time.time())


def _drop_parts(conn: Connection, upload_id: str) -> list[str]:
    """Inside a write transaction: delete the upload's part rows; the blobs they held."""
    blobs = [row["blob"] for row in conn.execute(
        "SELECT blob FROM file_upload_parts WHERE upload_id = ?", (upload_id,))]
    conn.execute("DELETE FROM file_upload_parts WHERE upload_id = ?", (upload_id,))
    return blobs


def _upload(row: Any) -> FileUpload:
    return FileUpload(row["upload_id"], row["tenant"], row["filename"], row["purpose"],
                      row["bytes"], row["mime_type"], row["created_at"], row["expires_at"],
                      row["status"], row["file_lifetime"], row["file_id"])


def _part(row: Any) -> UploadPart:
    return UploadPart(row["part_id"], row["upload_id"], row["created_at"], row["size"],
                      row["blob"])
