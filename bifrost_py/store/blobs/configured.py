"""The blob store [store] names: an S3 bucket at `blobs`, else files under the data directory."""

from __future__ import annotations

from pathlib import Path

from bifrost_py.aws.sigv4 import ServerCredentials
from bifrost_py.config import StoreConfig
from bifrost_py.store.blobs.disk import DiskBlobs
from bifrost_py.store.blobs.protocol import BlobStore
from bifrost_py.store.blobs.s3 import S3Blobs
from bifrost_py.store.blobs.s3_client import BucketLocation, S3Client


def blob_store(settings: StoreConfig, data_dir: Path, fsync: bool) -> BlobStore:
    if not settings.blobs:
        return DiskBlobs(data_dir, fsync=fsync)
    credentials = ServerCredentials(
        settings.blobs_access_key_id, settings.blobs_secret_access_key, owner="blobs",
        where="store.blobs_access_key_id and blobs_secret_access_key")
    where = BucketLocation.parse(settings.blobs, settings.blobs_endpoint_url,
                                 settings.blobs_region, credentials)
    # Temp files (a provider's upload of a stored object) stay local.
    return S3Blobs(S3Client(where), data_dir / "tmp")
