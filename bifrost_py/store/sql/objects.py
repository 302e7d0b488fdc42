"""Buckets and objects: metadata in the database, bytes in the blob store."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from bifrost_py.domain.objects import (
    Bucket,
    Conditions,
    Listing,
    NewObject,
    ObjectInfo,
    check_write,
    etag_matches,
    validate_bucket_name,
)
from bifrost_py.domain.tenancy import bucket_tenant, reserved, shown_bucket
from bifrost_py.errors import (
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    NoSuchBucket,
    NoSuchKey,
)
from bifrost_py.ports.files import NO_CONDITIONS, Blob, FileMirror
from bifrost_py.store.blobs.protocol import BlobStore
from bifrost_py.store.sql.database import Connection, Database

log = logging.getLogger("bifrost_py.store")
_LIST_BATCH = 1000
# Every column but the inline bytes, which listings never need.
_COLUMNS = ("bucket, key, size, etag, modified, content_type, headers, metadata, "
            "checksum_algorithm, checksum, checksum_type, blobs, parts_count")
# Skips every key that starts with a common prefix: sorts after any realistic continuation.
_PAST = "\U0010ffff"
_REPLACE_OBJECT = "ON CONFLICT (bucket, key) DO UPDATE SET " + ", ".join(
    f"{column} = excluded.{column}" for column in
    ("size", "etag", "modified", "content_type", "headers", "metadata", "checksum_algorithm",
     "checksum", "checksum_type", "blobs", "parts_count", "data"))


class ObjectStore:
    def __init__(self, db: Database, blobs: BlobStore, auto_create_buckets: bool,
                 mirror: FileMirror | None = None) -> None:
        self.db = db
        self.blobs = blobs
        self.auto_create_buckets = auto_create_buckets
        # For providers with their own file storage: every object is uploaded there too, and the
        # provider's file id becomes its ETag.
        self.mirror = mirror
        self._retiring: set[asyncio.Task[None]] = set()
        # Bucket names known to exist, loaded at start-up and added to as buckets are seen: the
        # check before a body is read then costs no database round trip. Another server sharing
        # the database may create or delete buckets, so a name here may be stale either way: a
        # missing one is looked up before it is refused, and a present one only spares a write
        # its check (the write's own INSERT finds a deleted bucket), never answers a read.
        self._buckets: set[str] = set()

    async def open(self) -> None:
        self._buckets = {r["name"] for r in await self.db.fetchall("SELECT name FROM buckets")}

    # buckets

    async def create_bucket(self, name: str) -> None:
        def insert(conn: Connection) -> None:
            added = conn.execute("INSERT INTO buckets (name, created) VALUES (?, ?) "
                                 "ON CONFLICT DO NOTHING", (name, time.time()))
            if added.rowcount == 0:
                raise BucketAlreadyOwnedByYou(BucketName=name)

        await self.db.transaction(insert)
        self._buckets.add(name)

    async def head_bucket(self, name: str) -> Bucket:
        row = await self.db.fetchone("SELECT name, created FROM buckets WHERE name = ?", (name,))
        if row is None:
            raise NoSuchBucket(BucketName=name)
        return Bucket(row["name"], row["created"])

    async def list_buckets(self, tenant: str) -> list[Bucket]:
        """A tenant's buckets, by the names it sees."""
        rows = await self.db.fetchall("SELECT name, created FROM buckets ORDER BY name")
        return sorted((Bucket(shown_bucket(r["name"]), r["created"]) for r in rows
                       if bucket_tenant(r["name"]) == tenant and not reserved(r["name"])),
                      key=lambda b: b.name)

    async def delete_bucket(self, name: str) -> None:
        def delete(conn: Connection) -> None:
            require_bucket(conn, name)
            busy = conn.execute("SELECT 1 FROM objects WHERE bucket = ? UNION ALL "
                                "SELECT 1 FROM uploads WHERE bucket = ? LIMIT 1",
                                (name, name)).fetchone()
            if busy:
                raise BucketNotEmpty(BucketName=name)
            conn.execute("DELETE FROM buckets WHERE name = ?", (name,))

        await self.db.transaction(delete)
        self._buckets.discard(name)

    def ensure_bucket(self, conn: Connection, name: str) -> None:
        """Inside a write transaction: the bucket, created if missing (the server's own)."""
        conn.execute("INSERT INTO buckets (name, created) VALUES (?, ?) ON CONFLICT DO NOTHING",
                     (name, time.time()))
        self._buckets.add(name)

    async def bucket_for_write(self, name: str) -> None:
        """Checked before a body is read, so a PUT into a missing bucket fails fast."""
        if await self.has_bucket(name):
            return
        if not self.auto_create_buckets:
            raise NoSuchBucket(BucketName=name)
        validate_bucket_name(shown_bucket(name))
        await self.db.transaction(lambda conn: self.ensure_bucket(conn, name))

    async def has_bucket(self, name: str) -> bool:
        """For a write only: see `_buckets`."""
        return name in self._buckets or await self._bucket_in_database(name)

    async def _bucket_in_database(self, name: str) -> bool:
        """Asked of the database whatever `_buckets` says, which is then put in step."""
        if await self.db.fetchone("SELECT 1 FROM buckets WHERE name = ?", (name,)) is None:
            self._buckets.discard(name)
            return False
        self._buckets.add(name)
        return True

    # objects

    async def get(self, bucket: str, key: str) -> ObjectInfo:
        row = await self.db.fetchone(f"SELECT {_COLUMNS}, data FROM objects "
                                     "WHERE bucket = ? AND key = ?", (bucket, key))
        if row is None:
            if not await self._bucket_in_database(bucket):
                raise NoSuchBucket(BucketName=bucket)
            raise NoSuchKey(Key=key)
        return object_from_row(row)

    async def resolve(self, bucket: str, key: str, if_match: str) -> ObjectInfo:
        """The object a request names. Where ETags are provider file ids, an If-Match id names
        its file whatever bucket and key the request gives (SPEC §2)."""
        if self.mirror is None or not if_match:
            return await self.get(bucket, key)
        with contextlib.suppress(NoSuchKey, NoSuchBucket):
            named = await self.get(bucket, key)
            if etag_matches(if_match, named.etag):
                return named
        found = await self.find_by_etag(if_match.strip(), bucket_tenant(bucket))
        return found if found is not None else await self.get(bucket, key)

    async def find_by_etag(self, etag: str, tenant: str) -> ObjectInfo | None:
        """The tenant's object whose ETag is `etag`, in any of its buckets: for providers whose
        ETags are their file ids, the id names the file wherever it was put."""
        rows = await self.db.fetchall(f"SELECT {_COLUMNS}, data FROM objects WHERE etag = ?",
                                      (f'"{etag.strip(chr(34))}"',))
        mine = [r for r in rows
                if bucket_tenant(r["bucket"]) == tenant and not reserved(r["bucket"])]
        return object_from_row(mine[0]) if mine else None

    def read(self, obj: ObjectInfo, start: int, end: int) -> AsyncIterator[bytes]:
        if obj.data is not None:
            return _one(obj.data[start:end + 1])
        if obj.size and not obj.blobs:  # a small object seen in a listing, which skips bytes
            return self._read_row(obj, start, end)
        return self.blobs.read(obj.blobs, start, end)

    async def _read_row(self, obj: ObjectInfo, start: int, end: int) -> AsyncIterator[bytes]:
        current = await self.get(obj.bucket, obj.key)
        async for chunk in self.read(current, start, end):
            yield chunk

    async def put(self, bucket: str, key: str, blobs: list[Blob], etag: str, new: NewObject,
                  conditions: Conditions = NO_CONDITIONS, parts_count: int | None = None,
                  mirror: bool = True) -> ObjectInfo:
        """Publish already-written blobs as the object's new content, atomically."""
        inline = blobs[0].data if len(blobs) == 1 else None
        obj = ObjectInfo(
            bucket=bucket, key=key, size=sum(b.size for b in blobs), etag=etag,
            modified=time.time(), content_type=new.content_type, headers=new.headers or {},
            metadata=new.metadata or {}, checksum_algorithm=new.checksum_algorithm,
            checksum=new.checksum, checksum_type=new.checksum_type,
            blobs=() if inline is not None else tuple((b.id, b.size) for b in blobs),
            parts_count=parts_count, data=inline)
        for blob in blobs:
            self.blobs.publish(blob)
        try:
            if mirror:
                obj = await self.mirrored(obj)
            existing = await self._stored(obj, conditions)
        except BaseException:
            self.blobs.delete(b for b, _ in obj.blobs)
            if obj.etag != etag:  # uploaded upstream, then refused here (a precondition)
                self._forget_upstream(obj.etag)
            raise
        self.retire(existing, obj)
        return obj

    async def _stored(self, obj: ObjectInfo, conditions: Conditions) -> ObjectInfo | None:
        """Store `obj`, returning what it replaced. Where a first write creates its bucket, a
        bucket another replica deleted since this one last saw it is created again, as a server
        that never saw it would."""
        try:
            return await self.db.transaction(lambda conn: self.replace(conn, obj, conditions))
        except NoSuchBucket:
            if not self.auto_create_buckets:
                raise
        await self.bucket_for_write(obj.bucket)
        return await self.db.transaction(lambda conn: self.replace(conn, obj, conditions))

    async def write(self, bucket: str, key: str, chunks: AsyncIterator[bytes],
                    content_type: str = "binary/octet-stream") -> ObjectInfo:
        """Store a stream produced by the server itself (job outputs) as an object; it is never
        uploaded to a provider's file storage."""
        await self.bucket_for_write(bucket)
        blob = await self.blobs.write(chunks, max_size=2**63)
        return await self.put(bucket, key, [blob], f'"{blob.md5}"',
                              NewObject(content_type=content_type), mirror=False)

    async def mirrored(self, obj: ObjectInfo) -> ObjectInfo:
        """`obj` with its content uploaded to the provider and the file id as its ETag."""
        if self.mirror is None:
            return obj
        if obj.data is not None:
            file_id = await self.mirror.upload(obj.key, obj.data, obj.content_type)
        else:
            async with self.blobs.as_file(obj.blobs) as path:
                file_id = await self.mirror.upload(obj.key, path, obj.content_type)
        return dataclasses.replace(obj, etag=f'"{file_id}"')

    def replace(self, conn: Connection, obj: ObjectInfo,
                conditions: Conditions) -> ObjectInfo | None:
        """Inside a write transaction: store `obj`, return the object it replaced."""
        existing = _get(conn, obj.bucket, obj.key)
        check_write(conditions, existing)
        try:
            conn.execute(
                "INSERT INTO objects (bucket, key, size, etag, modified, content_type, headers, "
                "metadata, checksum_algorithm, checksum, checksum_type, blobs, parts_count, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) " + _REPLACE_OBJECT,
                (obj.bucket, obj.key, obj.size, obj.etag, obj.modified, obj.content_type,
                 json.dumps(obj.headers), json.dumps(obj.metadata), obj.checksum_algorithm,
                 obj.checksum, obj.checksum_type, json.dumps(obj.blobs), obj.parts_count,
                 obj.data))
        except self.db.dialect.integrity_errors:  # the bucket was deleted meanwhile
            # Forgotten, so the next write looks it up again (and may create it anew).
            self._buckets.discard(obj.bucket)
            raise NoSuchBucket(BucketName=obj.bucket) from None
        return existing

    def retire(self, old: ObjectInfo | None, new: ObjectInfo | None = None) -> None:
        """After a commit: free what a replaced or deleted object held."""
        if old is None:
            return
        self.blobs.delete_later([b for b, _ in old.blobs])
        if new is None or new.etag != old.etag:
            self._forget_upstream(old.etag)

    def _forget_upstream(self, etag: str) -> None:
        """Delete a provider file in the background; nothing here waits on it."""
        if self.mirror is None:
            return
        task = asyncio.create_task(self._unmirror(etag.strip('"')))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _unmirror(self, file_id: str) -> None:
        assert self.mirror is not None
        try:
            await self.mirror.delete(file_id)
        except Exception as exc:  # the object is gone here; a stray upstream file is harmless
            log.warning("could not delete provider file %s: %s", file_id, exc)

    async def delete(self, bucket: str, key: str, conditions: Conditions = NO_CONDITIONS) -> None:
        """Deleting a missing key succeeds, as in S3, unless a precondition says otherwise."""
        def delete(conn: Connection) -> ObjectInfo | None:
            require_bucket(conn, bucket)
            if conditions.if_match:
                check_write(Conditions(if_match=conditions.if_match), _get(conn, bucket, key))
            return self.remove(conn, bucket, key)

        self.retire(await self.db.transaction(delete))

    def remove(self, conn: Connection, bucket: str, key: str) -> ObjectInfo | None:
        """Inside a write transaction: delete an object, return it (retire it after commit)."""
        existing = _get(conn, bucket, key)
        if existing is not None:
            conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
        return existing

    async def delete_many(self, bucket: str, keys: list[str]) -> None:
        def delete(conn: Connection) -> list[ObjectInfo]:
            require_bucket(conn, bucket)
            deleted = [o for o in (_get(conn, bucket, key) for key in keys) if o is not None]
            conn.executemany("DELETE FROM objects WHERE bucket = ? AND key = ?",
                             [(bucket, o.key) for o in deleted])
            return deleted

        for obj in await self.db.transaction(delete):
            self.retire(obj)

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
                f"SELECT {_COLUMNS}, NULL AS data FROM objects WHERE bucket = ? "
                f"AND key {'>=' if inclusive else '>'} ? "
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


async def referenced_blobs(db: Database) -> set[str]:
    """Every blob an object or a pending part (of an S3 or an OpenAI upload) points at."""
    return {row["blob"] for row in await db.fetchall(db.dialect.referenced_blobs)}


def object_from_row(row: Any) -> ObjectInfo:
    return ObjectInfo(
        bucket=row["bucket"], key=row["key"], size=row["size"], etag=row["etag"],
        modified=row["modified"], content_type=row["content_type"],
        headers=json.loads(row["headers"]), metadata=json.loads(row["metadata"]),
        checksum_algorithm=row["checksum_algorithm"], checksum=row["checksum"],
        checksum_type=row["checksum_type"],
        blobs=tuple((b, s) for b, s in json.loads(row["blobs"])), parts_count=row["parts_count"],
        data=row["data"])


def require_bucket(conn: Connection, name: str) -> None:
    if conn.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone() is None:
        raise NoSuchBucket(BucketName=name)


def _get(conn: Connection, bucket: str, key: str) -> ObjectInfo | None:
    row = conn.execute(f"SELECT {_COLUMNS}, data FROM objects WHERE bucket = ? AND key = ?",
                       (bucket, key)).fetchone()
    return object_from_row(row) if row else None


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
