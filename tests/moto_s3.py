"""A real S3 peer for the blob store's tests: moto's server on a loopback port, one per session,
with the bucket blob stores write into."""

from __future__ import annotations

import functools
import socket
import uuid
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

BUCKET = "bifrost-blobs"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@functools.cache
def blob_endpoint() -> str:
    """The session's moto server, started on first use (stopped when the process exits: its
    thread is a daemon), with BUCKET created."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    bucket_client(url).create_bucket(Bucket=BUCKET)
    return url


def bucket_client(url: str | None = None) -> Any:
    return boto3.client("s3", endpoint_url=url or blob_endpoint(), region_name="us-east-1",
                        **KEYS)


def new_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}/"


def blobs_toml(prefix: str, endpoint: str | None = None) -> str:
    """[store] keys putting a server's blobs under `prefix` of the session's bucket."""
    return (f'blobs = "s3://{BUCKET}/{prefix}"\n'
            f'blobs_endpoint_url = "{endpoint or blob_endpoint()}"\n'
            'blobs_access_key_id = "testing"\nblobs_secret_access_key = "testing"\n')


def stored_keys(prefix: str) -> list[str]:
    pages = bucket_client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET,
                                                                       Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]
