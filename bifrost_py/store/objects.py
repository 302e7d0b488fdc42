"""Buckets and objects of the embedded store: metadata in SQLite, bytes in the blob store."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiosqlite

from bifrost_py.domain.objects import (
    Bucket,
    Conditions,
    Listing,
    ObjectInfo,
    check_write,
    validate_bucket_name,
)
from bifrost_py.errors import (
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    NoSuchBucket,
    NoSuchKey,
)
from bifrost_py.store.blobs import Blob, BlobStore
from bifrost_py.store.db import Database

_LIST_BATCH = 1000
NO_CONDITIONS = Conditions()
# Skips every key that starts with a common prefix: sorts after any realistic continuation.
_PAST = "\U0010ffff"


@dataclass(frozen=True)
class NewObject:
    """What a write stores besides the bytes."""

    content_type: str = "binary/octet-stream"
    headers: dict[str, str] | None = None
    metadata: dict[str, str] | None = None
    checksum_algorithm: str | None = None
    checksum: str | None = None
    checksum_type: str | None = None


class ObjectStore:
    def __init__(self, db: Database, blobs: BlobStore, auto_create_buckets: bool) -> None:
        self.db = db
        self.blobs = blobs
        self.auto_create_buckets = auto_create_buckets

    # buckets

    async def create_bucket(self, name: str) -> None:
        async with self.db.write() as conn:
            try:
                await conn.execute("INSERT INTO buckets (name, created) VALUES (?, ?)",
                                   (name, time.time()))
            except sqlite3.IntegrityError:
                raise BucketAlreadyOwnedByYou(BucketName=name) from None

    async def head_bucket(self, name: str) -> Bucket:
        row = await self.db.fetchone("SELECT name, created FROM buckets WHERE name = ?", (name,))
        if row is None:
            raise NoSuchBucket(BucketName=name)
        return Bucket(row["name"], row["created"])

    async def list_buckets(self) -> list[Bucket]:
        rows = await self.db.fetchall("SELECT name, created FROM buckets ORDER BY name")
        return [Bucket(r["name"], r["created"]) for r in rows]

    async def delete_bucket(self, name: str) -> None:
        async with self.db.write() as conn:
            await require_bucket(conn, name)
            busy = await conn.execute_fetchall(
                "SELECT 1 FROM objects WHERE bucket = ? UNION ALL "
                "SELECT 1 FROM uploads WHERE bucket = ? LIMIT 1", (name, name))
            if busy:
                raise BucketNotEmpty(BucketName=name)
            await conn.execute("DELETE FROM buckets WHERE name = ?", (name,))

    async def bucket_for_write(self, name: str) -> None:
        """Checked before a body is read, so a PUT into a missing bucket fails fast."""
        try:
            await self.head_bucket(name)
        except NoSuchBucket:
            if not self.auto_create_buckets:
                raise
            validate_bucket_name(name)
            async with self.db.write() as conn:
                await conn.execute("INSERT OR IGNORE INTO buckets (name, created) VALUES (?, ?)",
                                   (name, time.time()))

    # objects

    async def get(self, bucket: str, key: str) -> ObjectInfo:
        row = await self.db.fetchone("SELECT * FROM objects WHERE bucket = ? AND key = ?",
                                     (bucket, key))
        if row is None:
            await self.head_bucket(bucket)
            raise NoSuchKey(Key=key)
        return object_from_row(row)

    def read(self, obj: ObjectInfo, start: int, end: int) -> AsyncIterator[bytes]:
        return self.blobs.read(obj.blobs, start, end)

    async def put(self, bucket: str, key: str, blobs: list[Blob], etag: str, new: NewObject,
                  conditions: Conditions = NO_CONDITIONS, parts_count: int | None = None,
                  ) -> ObjectInfo:
        """Publish already-written blobs as the object's new content, atomically."""
        obj = ObjectInfo(
            bucket=bucket, key=key, size=sum(b.size for b in blobs), etag=etag,
            modified=time.time(), content_type=new.content_type, headers=new.headers or {},
            metadata=new.metadata or {}, checksum_algorithm=new.checksum_algorithm,
            checksum=new.checksum, checksum_type=new.checksum_type,
            blobs=tuple((b.id, b.size) for b in blobs), parts_count=parts_count)
        for blob in blobs:
            self.blobs.publish(blob)
        try:
            async with self.db.write() as conn:
                replaced = await self.replace(conn, obj, conditions)
        except BaseException:
            self.blobs.delete(b.id for b in blobs)
            raise
        self.blobs.delete_later(replaced)
        return obj

    async def write(self, bucket: str, key: str, chunks: AsyncIterator[bytes],
                    content_type: str = "binary/octet-stream") -> ObjectInfo:
        """Store a stream produced by the server itself (job outputs) as an object."""
        await self.bucket_for_write(bucket)
        blob = await self.blobs.write(chunks, max_size=2**63)
        return await self.put(bucket, key, [blob], f'"{blob.md5}"',
                              NewObject(content_type=content_type))

    async def replace(self, conn: aiosqlite.Connection, obj: ObjectInfo,
                      conditions: Conditions) -> list[str]:
        """Inside a write transaction: store `obj`, return the blob ids it replaced."""
        await require_bucket(conn, obj.bucket)
        existing = await _get(conn, obj.bucket, obj.key)
        check_write(conditions, existing)
        await conn.execute(
            "INSERT OR REPLACE INTO objects (bucket, key, size, etag, modified, content_type, "
            "headers, metadata, checksum_algorithm, checksum, checksum_type, blobs, parts_count) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (obj.bucket, obj.key, obj.size, obj.etag, obj.modified, obj.content_type,
             json.dumps(obj.headers), json.dumps(obj.metadata), obj.checksum_algorithm,
             obj.checksum, obj.checksum_type, json.dumps(obj.blobs), obj.parts_count))
        return [b for b, _ in existing.blobs] if existing else []

    async def delete(self, bucket: str, key: str, conditions: Conditions = NO_CONDITIONS) -> None:
        """Deleting a missing key succeeds, as in S3, unless a precondition says otherwise."""
        async with self.db.write() as conn:
            await require_bucket(conn, bucket)
            existing = await _get(conn, bucket, key)
            if conditions.if_match:
                check_write(Conditions(if_match=conditions.if_match), existing)
            if existing is None:
                return
            await conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
        self.blobs.delete_later([b for b, _ in existing.blobs])

    async def delete_many(self, bucket: str, keys: list[str]) -> None:
        async with self.db.write() as conn:
            await require_bucket(conn, bucket)
            replaced: list[str] = []
            for key in keys:
                existing = await _get(conn, bucket, key)
                if existing is not None:
                    replaced.extend(b for b, _ in existing.blobs)
                    await conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?",
                                       (bucket, key))
        self.blobs.delete_later(replaced)

    async def list_keys(self, bucket: str, prefix: str = "", delimiter: str = "", after: str = "",
                   max_keys: int = 1000) -> Listing:
        """Keys and common prefixes in UTF-8 binary order, strictly after `after`."""
        await self.head_bucket(bucket)
        if max_keys == 0:
            return Listing([], [], False, None)
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        last: str | None = None
        async for obj, common in self._entries(bucket, prefix, delimiter, after):
            if len(objects) + len(prefixes) == max_keys:
                return Listing(objects, prefixes, True, last)
            if common is not None:
                prefixes.append(common)
                last = common
            else:
                objects.append(obj)
                last = obj.key
        return Listing(objects, prefixes, False, last)

    async def _entries(self, bucket: str, prefix: str, delimiter: str, after: str,
                       ) -> AsyncIterator[tuple[ObjectInfo, str | None]]:
        cursor = max(after, prefix)
        inclusive = prefix > after
        while True:
            rows = list(await self.db.fetchall(
                f"SELECT * FROM objects WHERE bucket = ? AND key {'>=' if inclusive else '>'} ? "
                "ORDER BY key LIMIT ?", (bucket, cursor, _LIST_BATCH)))
            if not rows:
                return
            skip = ""
            for row in rows:
                key: str = row["key"]
                cursor, inclusive = key, False
                if skip and key.startswith(skip):
                    continue
                if not key.startswith(prefix):
                    return
                cut = key.find(delimiter, len(prefix)) if delimiter else -1
                if cut < 0:
                    yield object_from_row(row), None
                    continue
                skip = key[:cut + len(delimiter)]
                if skip > after:
                    yield object_from_row(row), skip
            if skip and cursor.startswith(skip):
                cursor = skip + _PAST


def object_from_row(row: sqlite3.Row) -> ObjectInfo:
    return ObjectInfo(
        bucket=row["bucket"], key=row["key"], size=row["size"], etag=row["etag"],
        modified=row["modified"], content_type=row["content_type"],
        headers=json.loads(row["headers"]), metadata=json.loads(row["metadata"]),
        checksum_algorithm=row["checksum_algorithm"], checksum=row["checksum"],
        checksum_type=row["checksum_type"],
        blobs=tuple((b, s) for b, s in json.loads(row["blobs"])), parts_count=row["parts_count"])


async def require_bucket(conn: aiosqlite.Connection, name: str) -> None:
    if not await conn.execute_fetchall("SELECT 1 FROM buckets WHERE name = ?", (name,)):
        raise NoSuchBucket(BucketName=name)


async def _get(conn: aiosqlite.Connection, bucket: str, key: str) -> ObjectInfo | None:
    rows = list(await conn.execute_fetchall(
        "SELECT * FROM objects WHERE bucket = ? AND key = ?", (bucket, key)))
    return object_from_row(rows[0]) if rows else None
