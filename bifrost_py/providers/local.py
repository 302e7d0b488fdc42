"""The embedded default provider: files in the server's own store."""

from __future__ import annotations

from dataclasses import dataclass

from bifrost_py.config import Config
from bifrost_py.store.blobs import BlobStore
from bifrost_py.store.db import Database
from bifrost_py.store.multipart import Uploads
from bifrost_py.store.objects import ObjectStore


@dataclass
class LocalFiles:
    objects: ObjectStore
    uploads: Uploads
    max_object_size: int

    @property
    def blobs(self) -> BlobStore:
        return self.objects.blobs


def local_files(config: Config, db: Database, blobs: BlobStore) -> LocalFiles:
    local = config.providers.local
    objects = ObjectStore(db, blobs, local.auto_create_buckets)
    return LocalFiles(objects, Uploads(objects), local.max_object_size)
