"""Multipart uploads. Completing one publishes its part blobs as the object: nothing is copied."""

from __future__ import annotations

import json
import time
from typing import Any

from bifrost_py.domain.checksums import Checksum, composite
from bifrost_py.domain.multipart import (
    MAX_PARTS,
    CompletedPart,
    chosen_parts,
    multipart_etag,
    new_upload_id,
)
from bifrost_py.domain.objects import Conditions, NewObject, ObjectInfo, Part, Upload
from bifrost_py.errors import BadDigest, NoSuchUpload
from bifrost_py.ports.files import Blob
from bifrost_py.store.sql.database import Connection
from bifrost_py.store.sql.objects import ObjectStore, require_bucket

COMPLETION_MEMORY = 24 * 3600.0


class Uploads:
    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects
        self.db = objects.db
        self.blobs = objects.blobs

    async def create(self, bucket: str, key: str, new: NewObject) -> Upload:
        upload = Upload(upload_id=new_upload_id(), bucket=bucket, key=key,
                        initiated=time.time(), content_type=new.content_type,
                        headers=new.headers or {}, metadata=new.metadata or {},
                        checksum_algorithm=new.checksum_algorithm,
                        checksum_type=new.checksum_type)
        def insert(conn: Connection) -> None:
            require_bucket(conn, bucket)
            conn.execute(
                "INSERT INTO uploads (upload_id, bucket, key, initiated, content_type, headers, "
                "metadata, checksum_algorithm, checksum_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (upload.upload_id, bucket, key, upload.initiated, upload.content_type,
                 json.dumps(upload.headers), json.dumps(upload.metadata),
                 upload.checksum_algorithm, upload.checksum_type))

        await self.db.transaction(insert)
        return upload

    async def get(self, bucket: str, key: str, upload_id: str) -> Upload:
        row = await self.db.fetchone(
            "SELECT * FROM uploads WHERE upload_id = ? AND bucket = ? AND key = ?",
            (upload_id, bucket, key))
        if row is None:
            await self.objects.head_bucket(bucket)
            raise NoSuchUpload(UploadId=upload_id)
        return _upload(row)

    async def put_part(self, upload: Upload, part_number: int, blob: Blob) -> Part:
        # Parts are always files: completing an upload publishes them as the object's segments.
        assert blob.data is None, "a part must be written with inline=False"
        part = Part(part_number, blob.size, f'"{blob.md5}"', time.time(), blob.checksum, blob.id)

        def insert(conn: Connection) -> list[str]:
            _require_upload(conn, upload.upload_id)
            old = [r["blob"] for r in conn.execute(
                "SELECT blob FROM parts WHERE upload_id = ? AND part_number = ?",
                (upload.upload_id, part_number))]
            conn.execute(
                "INSERT INTO parts (upload_id, part_number, size, etag, modified, checksum, "
                "blob) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (upload_id, part_number) DO "
                "UPDATE SET size = excluded.size, etag = excluded.etag, "
                "modified = excluded.modified, checksum = excluded.checksum, "
                "blob = excluded.blob",
                (upload.upload_id, part_number, part.size, part.etag, part.modified,
                 part.checksum, part.blob))
            return old

        self.blobs.publish(blob)
        try:
            replaced = await self.db.transaction(insert)
        except BaseException:
            self.blobs.delete([blob.id])
            raise
        self.blobs.delete_later(replaced)
        return part

    async def parts(self, upload_id: str, after: int = 0, limit: int = MAX_PARTS) -> list[Part]:
        rows = await self.db.fetchall(
            "SELECT * FROM parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number "
            "LIMIT ?", (upload_id, after, limit))
        return [_part(r) for r in rows]

    async def list_uploads(self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str,
                   limit: int) -> list[Upload]:
        await self.objects.head_bucket(bucket)
        rows = await self.db.fetchall(
            "SELECT * FROM uploads WHERE bucket = ? AND substr(key, 1, ?) = ? "
            "AND (key > ? OR (key = ? AND upload_id > ?)) ORDER BY key, initiated, upload_id "
            "LIMIT ?",
            (bucket, len(prefix), prefix, key_marker, key_marker, upload_id_marker, limit))
        return [_upload(r) for r in rows]

    async def abort(self, upload: Upload) -> None:
        def delete(conn: Connection) -> list[str]:
            blobs = [r["blob"] for r in conn.execute(
                "SELECT blob FROM parts WHERE upload_id = ?", (upload.upload_id,))]
            conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload.upload_id,))
            return blobs

        self.blobs.delete_later(await self.db.transaction(delete))

    async def complete(self, upload: Upload, requested: list[CompletedPart],
                       conditions: Conditions, full_checksum: str | None = None,
                       max_size: int = 2**63) -> ObjectInfo:
        stored = {p.part_number: p for p in await self.parts(upload.upload_id)}
        chosen = chosen_parts(upload, requested, stored, max_size)
        checksum = await self._checksum(upload, chosen, full_checksum)
        obj = ObjectInfo(
            bucket=upload.bucket, key=upload.key, size=sum(p.size for p in chosen),
            etag=multipart_etag([p.etag.strip('"') for p in chosen]), modified=time.time(),
            content_type=upload.content_type, headers=upload.headers, metadata=upload.metadata,
            checksum_algorithm=upload.checksum_algorithm if checksum else None,
            checksum=checksum, checksum_type=upload.checksum_type if checksum else None,
            blobs=tuple((p.blob, p.size) for p in chosen), parts_count=len(chosen))
        obj = await self.objects.mirrored(obj)

        def publish(conn: Connection) -> ObjectInfo | None:
            _require_upload(conn, upload.upload_id)
            replaced = self.objects.replace(conn, obj, conditions)
            conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload.upload_id,))
            _record_completion(conn, upload.upload_id, obj)
            return replaced

        try:
            replaced = await self.db.transaction(publish)
        except NoSuchUpload:  # a concurrent completion of the same upload won
            done = await self.completed(upload.bucket, upload.key, upload.upload_id)
            if done is None:
                raise
            return done
        self.objects.retire(replaced, obj)
        used = {p.blob for p in chosen}
        self.blobs.delete_later([p.blob for p in stored.values() if p.blob not in used])
        return obj

    async def completed(self, bucket: str, key: str, upload_id: str) -> ObjectInfo | None:
        """What a completed upload made, for a completion repeated after it succeeded."""
        row = await self.db.fetchone(
            "SELECT * FROM completed_uploads WHERE upload_id = ? AND bucket = ? AND key = ?",
            (upload_id, bucket, key))
        if row is None:
            return None
        return ObjectInfo(bucket=bucket, key=key, size=row["size"], etag=row["etag"],
                          modified=row["completed"], content_type="",
                          checksum_algorithm=row["checksum_algorithm"],
                          checksum=row["checksum"], checksum_type=row["checksum_type"])

    async def _checksum(self, upload: Upload, chosen: list[Part],
                        full_checksum: str | None) -> str | None:
        """The object's checksum; BadDigest if the one the completion gave differs."""
        algorithm = upload.checksum_algorithm
        if not algorithm:
            return None
        if upload.checksum_type != "FULL_OBJECT":
            part_sums = [p.checksum for p in chosen if p.checksum]
            value = composite(algorithm, part_sums) if len(part_sums) == len(chosen) else None
        else:
            whole = Checksum(algorithm)
            async for chunk in self.blobs.read([(p.blob, p.size) for p in chosen], 0,
                                               sum(p.size for p in chosen) - 1):
                whole.update(chunk)
            value = whole.b64()
        if full_checksum and full_checksum.strip() != value:
            raise BadDigest(f"The {algorithm} you specified did not match the calculated "
                            "checksum.")
        return value


def _record_completion(conn: Connection, upload_id: str, obj: ObjectInfo) -> None:
    """Remember a completion for a day: S3 answers a repeated one as it answered the first."""
    conn.execute("DELETE FROM completed_uploads WHERE completed < ?",
                 (obj.modified - COMPLETION_MEMORY,))
    conn.execute(
        "INSERT INTO completed_uploads (upload_id, bucket, key, size, etag, "
        "checksum_algorithm, checksum, checksum_type, completed) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (upload_id, obj.bucket, obj.key, obj.size, obj.etag, obj.checksum_algorithm,
         obj.checksum, obj.checksum_type, obj.modified))


def _require_upload(conn: Connection, upload_id: str) -> None:
    if conn.execute("SELECT 1 FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone() is None:
        raise NoSuchUpload(UploadId=upload_id)


def _upload(row: Any) -> Upload:
    return Upload(upload_id=row["upload_id"], bucket=row["bucket"], key=row["key"],
                  initiated=row["initiated"], content_type=row["content_type"],
                  headers=json.loads(row["headers"]), metadata=json.loads(row["metadata"]),
                  checksum_algorithm=row["checksum_algorithm"],
                  checksum_type=row["checksum_type"])


def _part(row: Any) -> Part:
    return Part(row["part_number"], row["size"], row["etag"], row["modified"], row["checksum"],
                row["blob"])
