"""The GCS and token fakes speak what google-cloud-storage and google-auth speak: every test drives
them through those libraries (or, for the error bodies, plain HTTP)."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator

import httpx
import pytest
from google.api_core import exceptions
from google.auth.transport.requests import Request as AuthRequest
from google.cloud import storage
from google.oauth2 import service_account

from tests.fakes.gcs_fake import FakeGCS
from tests.fakes.google_auth_fake import CLOUD_PLATFORM

BUCKET = "batch-bucket"


@pytest.fixture
def gcs() -> Iterator[FakeGCS]:
    with FakeGCS() as server:
        server.create_bucket(BUCKET)
        yield server


def credentials(gcs: FakeGCS) -> service_account.Credentials:
    info = gcs.issuer.service_account(token_uri=f"{gcs.url}/token")
    return service_account.Credentials.from_service_account_info(info, scopes=[CLOUD_PLATFORM])


def client(gcs: FakeGCS) -> storage.Client:
    return storage.Client(project=gcs.project, credentials=credentials(gcs),
                          client_options={"api_endpoint": gcs.url})


def settled(gcs: FakeGCS, seconds: float = 2) -> None:
    """Waits for the bucket GET the storage client sends from a thread of its own, which takes a
    token of its own when it races the first request."""
    deadline = time.monotonic() + seconds
    while ("GET", f"/storage/v1/b/{BUCKET}") not in gcs.requests and time.monotonic() < deadline:
        time.sleep(0.01)


def test_credentials_refresh_against_the_token_endpoint(gcs: FakeGCS) -> None:
    creds = credentials(gcs)
    creds.refresh(AuthRequest())
    assert creds.token and creds.valid
    assert gcs.issuer.grants == [(creds.service_account_email, CLOUD_PLATFORM)]
    assert gcs.issuer.authenticate(f"Bearer {creds.token}") is None


def test_token_endpoint_refuses_bad_grants(gcs: FakeGCS) -> None:
    other = service_account.Credentials.from_service_account_info(
        FakeGCS().issuer.service_account(token_uri=f"{gcs.url}/token"), scopes=[CLOUD_PLATFORM])
    with pytest.raises(Exception, match="invalid_grant"):
        other.refresh(AuthRequest())  # a key this issuer never made
    answer = httpx.post(f"{gcs.url}/token", data={"grant_type": "password"})
    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"
    forged = credentials(gcs)._make_authorization_grant_assertion().decode()
    head, body, signature = forged.split(".")
    answer = httpx.post(f"{gcs.url}/token", data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": f"{head}.{body}.{signature[:-4]}AAAA"})
    assert answer.json() == {"error": "invalid_grant",
                             "error_description": "Invalid JWT Signature."}
    assert gcs.issuer.grants == []


def test_upload_download_list_delete(gcs: FakeGCS) -> None:
    bucket = client(gcs).bucket(BUCKET)
    blob = bucket.blob("in/a b.jsonl")
    blob.upload_from_string(b'{"x": 1}\n', content_type="application/jsonl")
    assert gcs.get(BUCKET, "in/a b.jsonl") == b'{"x": 1}\n'
    assert gcs.objects[(BUCKET, "in/a b.jsonl")].content_type == "application/jsonl"
    assert ("POST", f"/upload/storage/v1/b/{BUCKET}/o") in gcs.requests  # multipart, small
    gcs.put(BUCKET, "in/c.jsonl", b"c")
    gcs.put(BUCKET, "in/deeper/d.jsonl", b"d")
    gcs.put(BUCKET, "out/e.jsonl", b"e")
    again = bucket.get_blob("in/a b.jsonl")
    assert again is not None and again.size == 9 and again.generation == blob.generation
    assert again.crc32c == blob.crc32c and again.md5_hash
    assert bucket.blob("in/a b.jsonl").download_as_bytes() == b'{"x": 1}\n'
    listed = client(gcs).list_blobs(BUCKET, prefix="in/", delimiter="/", page_size=1)
    names = [b.name for b in listed]  # the iterator follows page tokens
    assert names == ["in/a b.jsonl", "in/c.jsonl"] and listed.prefixes == {"in/deeper/"}
    assert [b.name for b in client(gcs).list_blobs(BUCKET)] == gcs.names(BUCKET)
    blob.delete()
    assert gcs.names(BUCKET, "in/") == ["in/c.jsonl", "in/deeper/d.jsonl"]
    with pytest.raises(exceptions.NotFound):
        bucket.blob("in/a b.jsonl").download_as_bytes()


def test_ranged_download(gcs: FakeGCS) -> None:
    gcs.put(BUCKET, "r", bytes(range(256)))
    blob = client(gcs).bucket(BUCKET).blob("r")
    assert blob.download_as_bytes(start=10, end=19) == bytes(range(10, 20))
    assert blob.download_as_bytes(start=250) == bytes(range(250, 256))


def test_resumable_upload_of_a_large_and_of_an_unsized_stream(gcs: FakeGCS) -> None:
    data = os.urandom(9 * 1024 * 1024)  # past the 8 MiB multipart limit
    bucket = client(gcs).bucket(BUCKET)
    bucket.blob("big").upload_from_file(io.BytesIO(data), size=len(data))
    assert ("PUT", f"/upload/storage/v1/b/{BUCKET}/o") in gcs.requests
    assert gcs.get(BUCKET, "big") == data
    gcs.requests.clear()
    chunked = bucket.blob("chunked", chunk_size=256 * 1024)
    with chunked.open("wb") as writer:  # size unknown: resumable, 256 KiB chunks
        for start in range(0, 1024 * 1024 + 5, 100_000):
            writer.write(data[start:start + 100_000])
    assert gcs.get(BUCKET, "chunked") == data[:1_100_000]
    assert gcs.requests.count(("PUT", f"/upload/storage/v1/b/{BUCKET}/o")) == 5
    assert bucket.blob("chunked").download_as_bytes() == data[:1_100_000]


def test_if_generation_match(gcs: FakeGCS) -> None:
    blob = client(gcs).bucket(BUCKET).blob("once")
    blob.upload_from_string(b"first", if_generation_match=0)
    with pytest.raises(exceptions.PreconditionFailed):
        blob.upload_from_string(b"second", if_generation_match=0)
    assert blob.generation is not None
    blob.upload_from_string(b"third", if_generation_match=blob.generation)
    assert gcs.get(BUCKET, "once") == b"third"


def test_buckets(gcs: FakeGCS) -> None:
    sdk = client(gcs)
    assert sdk.get_bucket(BUCKET).name == BUCKET
    created = sdk.create_bucket("fresh-bucket")
    assert created.name == "fresh-bucket" and "fresh-bucket" in gcs.buckets
    with pytest.raises(exceptions.Conflict):
        sdk.create_bucket("fresh-bucket")
    with pytest.raises(exceptions.NotFound):
        sdk.get_bucket("no-such-bucket")


def test_auth_errors_and_refresh_after_expiry(gcs: FakeGCS) -> None:
    url = f"{gcs.url}/storage/v1/b/{BUCKET}/o"
    bare = httpx.get(url)
    assert bare.status_code == 401
    assert bare.json()["error"]["message"] == "Login Required"
    assert bare.json()["error"]["errors"][0]["reason"] == "required"
    bad = httpx.get(url, headers={"Authorization": "Bearer nope"})
    assert bad.json()["error"]["message"] == "Invalid Credentials"
    assert httpx.get(url, headers={"Authorization": f"Bearer {gcs.issuer.issue()}"}).is_success
    sdk = client(gcs)
    gcs.put(BUCKET, "x", b"x")
    assert sdk.bucket(BUCKET).blob("x").download_as_bytes() == b"x"
    settled(gcs)
    granted = len(gcs.issuer.grants)
    gcs.issuer.expire_all()
    gcs.requests.clear()
    assert sdk.bucket(BUCKET).blob("x").download_as_bytes() == b"x"  # 401, refresh, again
    assert len(gcs.issuer.grants) == granted + 1
    assert gcs.requests == [("GET", f"/download/storage/v1/b/{BUCKET}/o/x")] * 2


def test_failed_requests_are_retried_and_reported(gcs: FakeGCS) -> None:
    gcs.put(BUCKET, "x", b"x")
    blob = client(gcs).bucket(BUCKET).blob("x")
    gcs.fail_requests(1, 503)
    assert blob.download_as_bytes() == b"x"  # the client retries a 503
    gcs.fail_requests(1, 403)
    with pytest.raises(exceptions.Forbidden) as refused:
        blob.download_as_bytes()
    assert "fake failure" in str(refused.value)
    body = json.loads(httpx.get(f"{gcs.url}/storage/v1/b/{BUCKET}/o/missing", headers={
        "Authorization": f"Bearer {gcs.issuer.issue()}"}).text)
    assert body == {"error": {"code": 404, "message": f"No such object: {BUCKET}/missing",
                              "errors": [{"message": f"No such object: {BUCKET}/missing",
                                          "domain": "global", "reason": "notFound"}]}}
