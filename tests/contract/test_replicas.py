"""Replicas: several server processes sharing one PostgreSQL database and one S3 bucket of blobs
(moto's server), each with a data directory of its own. What one is told, every other answers,
byte for byte; a job outlives the replica running it, whether SIGKILLed or cut off from the
database, with every record exactly once."""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from bedrock_helpers import (
    RESTART_CONFIG,
    assert_finished_once,
    s3_client,
    start_slow_job,
    unique,
    wait_for,
    write_config,
)
from openai_helpers import client, upload
from s3_helpers import MIB, etag_of, expect_error, get_bytes, list_keys, multipart_etag
from server_process import ServerProcess
from tcp_proxy import TcpProxy

from tests.moto_s3 import BUCKET, blobs_toml, bucket_client
from tests.postgres import fresh_database

# Objects of up to 64 KiB keep their bytes in their database rows, larger ones in the blob
# store: only the large bodies show that the replicas share the S3 bucket, not just the database.
SMALL = 1000
LARGE = 5 * MIB
# Parts of a multipart upload other than the last must be at least 5 MiB.
PART = 5 * MIB
# The renew loop's own words as it gives up every job of a replica cut off from the database.
CUT_OFF_LOG = "stopping every job here"
BLOBS_PREFIX = "replicas/"
LEASE_SECONDS = 3  # job_lease_seconds in RESTART_CONFIG
Trio = tuple[ServerProcess, ServerProcess, ServerProcess]


def body(size: int, seed: int = 0) -> bytes:
    """`size` bytes that differ from part to part, so a part read from the wrong place shows."""
    pattern = bytes((seed * 7 + i) % 251 for i in range(4096))
    return (pattern * (size // len(pattern) + 1))[:size]


def blob_sizes() -> dict[str, int]:
    """The size of every object the replicas keep in the blob bucket, by key."""
    pages = bucket_client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET,
                                                                       Prefix=BLOBS_PREFIX)
    return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}


class Replicas:
    """Server processes on one database and one blob prefix, each on a data dir of its own."""

    def __init__(self, directory: Path, database_url: str) -> None:
        self.directory = directory
        self.database_url = database_url
        # A prefix of the group's own: a replica sweeps the blobs its database does not know,
        # which would be every other group's.
        self.prefix = f"{BLOBS_PREFIX}{directory.name}/"
        self.started: list[ServerProcess] = []

    def start(self, name: str, database_url: str | None = None) -> ServerProcess:
        """A replica on the group's database, or on `database_url` (the same one, by a proxy)."""
        home = self.directory / name
        home.mkdir()
        config = write_config(home, RESTART_CONFIG + f"""
[store]
database_url = "{database_url or self.database_url}"
blobs_region = "us-east-1"
{blobs_toml(self.prefix)}""")
        server = ServerProcess(config, home / "data", home / "server.log")
        self.started.append(server)
        return server

    def lease_holder(self) -> ServerProcess:
        """The replica holding the one job's lease, by the process id in its owner name."""
        with psycopg.connect(self.database_url) as conn:
            owners = [row[0] for row in conn.execute(
                "SELECT lease_owner FROM jobs WHERE lease_owner IS NOT NULL").fetchall()]
        assert len(owners) == 1, f"expected one leased job, found owners {owners}"
        pid = int(owners[0].rsplit(":", 1)[1])
        return next(s for s in self.started if s.process.pid == pid)

    def close(self) -> None:
        for server in self.started:
            server.close()


@contextmanager
def replicas(directory: Path) -> Iterator[Replicas]:
    """A group of replicas on a fresh database and the session's moto server; every one stopped
    before the database goes."""
    with fresh_database() as database_url:
        group = Replicas(directory, database_url)
        try:
            yield group
        finally:
            group.close()


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:
    with replicas(tmp_path_factory.mktemp("trio")) as group:
        yield group.start("a"), group.start("b"), group.start("c")


@pytest.fixture
def bucket(trio: Trio) -> str:
    """A bucket of the test's own, created on the first replica."""
    name = unique("shared")
    s3_client(trio[0]).create_bucket(Bucket=name)
    return name


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
def test_an_object_put_on_one_replica_reads_byte_equal_on_the_others(
        trio: Trio, bucket: str, size: int) -> None:
    data = body(size)
    s3_client(trio[0]).put_object(Bucket=bucket, Key="object", Body=data)
    for other in trio[1:]:
        s3 = s3_client(other)
        assert get_bytes(s3, bucket, "object") == data
        assert get_bytes(s3, bucket, "object", Range="bytes=100-899") == data[100:900]
        assert get_bytes(s3, bucket, "object", Range=f"bytes=-{size // 3}") == data[-(size // 3):]
        head = s3.head_object(Bucket=bucket, Key="object")
        assert (head["ContentLength"], head["ETag"]) == (size, etag_of(data))


def test_a_multipart_upload_with_parts_on_two_replicas_completes_on_a_third(
        trio: Trio, bucket: str) -> None:
    a, b, c = (s3_client(server) for server in trio)
    parts = [body(PART, seed=1), body(PART, seed=2)]
    upload_id = a.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="parts", UploadId=upload_id, PartNumber=number,
                            Body=part)["ETag"]
             for number, (s3, part) in enumerate(zip((a, b), parts, strict=True), start=1)]
    assert [u["UploadId"] for u in c.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [
        upload_id]
    assert [p["ETag"] for p in c.list_parts(Bucket=bucket, Key="parts",
                                            UploadId=upload_id)["Parts"]] == etags
    done = c.complete_multipart_upload(
        Bucket=bucket, Key="parts", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e}
                                   for n, e in enumerate(etags, start=1)]})
    assert done["ETag"] == multipart_etag(parts)
    whole = b"".join(parts)
    for s3 in (a, b, c):
        assert get_bytes(s3, bucket, "parts") == whole
        assert get_bytes(s3, bucket, "parts", Range=f"bytes={PART - 10}-{PART + 9}") == whole[
            PART - 10:PART + 10]
        assert s3.head_object(Bucket=bucket, Key="parts")["ETag"] == multipart_etag(parts)


def test_every_replica_lists_the_same_objects(trio: Trio, bucket: str) -> None:
    keys = [*sorted(f"dir/{i:02d}/é-{i}.txt" for i in range(12)), "top.bin"]
    for i, key in enumerate(keys):
        s3_client(trio[i % 3]).put_object(Bucket=bucket, Key=key,
                                          Body=body(LARGE if key == "top.bin" else SMALL, i))
    listings = [s3_client(server).list_objects_v2(Bucket=bucket, Delimiter="/", Prefix="dir/")
                for server in trio]
    assert all(listing["CommonPrefixes"] == listings[0]["CommonPrefixes"]
               for listing in listings)
    assert len(listings[0]["CommonPrefixes"]) == 12
    full = [[(o["Key"], o["Size"], o["ETag"]) for o in s3_client(server).list_objects_v2(
        Bucket=bucket)["Contents"]] for server in trio]
    assert [key for key, _, _ in full[0]] == keys
    assert full[1] == full[0] and full[2] == full[0]
    assert [list_keys(s3_client(server), bucket, MaxKeys=5) for server in trio] == [keys] * 3


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
def test_an_object_deleted_on_one_replica_is_gone_on_the_others(
        trio: Trio, bucket: str, size: int) -> None:
    a, b, c = (s3_client(server) for server in trio)
    a.put_object(Bucket=bucket, Key="doomed", Body=body(size))
    assert c.head_object(Bucket=bucket, Key="doomed")["ContentLength"] == size
    b.delete_object(Bucket=bucket, Key="doomed")
    for s3 in (a, c):
        expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="doomed")
        assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
def test_a_file_uploaded_with_the_openai_sdk_on_one_replica_is_read_on_another(
        trio: Trio, size: int) -> None:
    # A valid batch input file of about `size` bytes: the Files API checks what it is given.
    line = b'{"custom_id": "r-%06d", "method": "POST", "url": "/v1/chat/completions", "body": ' \
           b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}}\n'
    content = b"".join(line % i for i in range(max(1, size // len(line % 0))))
    file_id = upload(client(trio[0].openai_url), content)
    for other in trio[1:]:
        sdk = client(other.openai_url)
        assert sdk.files.retrieve(file_id).bytes == len(content)
        assert sdk.files.content(file_id).content == content


def test_an_openai_upload_with_parts_on_two_replicas_completes_on_a_third(trio: Trio) -> None:
    parts = [body(PART, seed=1), body(SMALL, seed=2)]
    whole = b"".join(parts)
    first, second, third = (client(server.openai_url) for server in trio)
    upload = first.uploads.create(bytes=len(whole), filename="data.bin", purpose="user_data",
                                  mime_type="application/octet-stream")
    ids = [sdk.uploads.parts.create(upload.id, data=part).id
           for sdk, part in zip((first, second), parts, strict=True)]
    # The md5 is checked on the third replica, over the parts' bytes read back from the bucket.
    done = third.uploads.complete(upload.id, part_ids=ids, md5=hashlib.md5(whole).hexdigest())
    assert done.status == "completed" and done.file is not None
    assert first.files.content(done.file.id).content == whole


def test_large_bodies_are_kept_in_the_shared_blob_bucket(trio: Trio, bucket: str) -> None:
    before = blob_sizes()
    s3_client(trio[0]).put_object(Bucket=bucket, Key="large", Body=body(LARGE))
    added = {key: size for key, size in blob_sizes().items() if key not in before}
    assert sum(added.values()) >= LARGE, f"the blob bucket gained only {added}"


def test_a_job_of_a_replica_killed_with_sigkill_is_finished_by_another_once(
        tmp_path: Path) -> None:
    with replicas(tmp_path) as group:
        a, b = group.start("a"), group.start("b")
        arn = start_slow_job(a)
        holder = group.lease_holder()
        survivor = b if holder is a else a
        assert holder.signal(signal.SIGKILL) == -signal.SIGKILL
        assert_finished_once(survivor, arn)
        assert "lost the lease" not in survivor.log_path.read_text()


def test_a_replica_cut_off_from_the_database_stops_in_a_lease_and_another_finishes_its_job(
        tmp_path: Path) -> None:
    with replicas(tmp_path) as group:
        database = urlsplit(group.database_url)
        with TcpProxy(database.port or 5432, database.hostname or "127.0.0.1") as proxy:
            user, at, _ = database.netloc.rpartition("@")
            proxied = urlunsplit(database._replace(netloc=f"{user}{at}127.0.0.1:{proxy.port}"))
            cut, other = group.start("cut", database_url=proxied), group.start("other")
            # The other replica, frozen while the job starts, cannot be the one to claim it.
            os.kill(other.process.pid, signal.SIGSTOP)
            try:
                arn = start_slow_job(cut)
                assert group.lease_holder() is cut
            finally:
                os.kill(other.process.pid, signal.SIGCONT)
            proxy.cut()
            # Within a lease of its last renewal (a second at most before the cut), and a
            # second's grace for a loaded machine: by then another replica may claim its jobs.
            wait_for(lambda: CUT_OFF_LOG in cut.log_path.read_text(), bool,
                     timeout=LEASE_SECONDS + 1, interval=0.1,
                     what="the cut-off replica stopping its jobs")
            assert_finished_once(other, arn)
            assert cut.process.poll() is None, "a replica cut off from the database keeps serving"
