"""Presigned S3 URLs: authenticated by the signature in their query, until they expire."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bifrost_py.wire.auth.chunk_signatures import ChunkSignatures
from bifrost_py.wire.auth.verify import AuthError
from tests.unit.signed_requests import KEY_A, Req, _from_url, _query_value, client

# --- presigned URLs ---------------------------------------------------------------------------


def presigned(method: str = "get_object", expires: int = 60, **params: Any) -> Req:
    c = client("s3")
    url = c.generate_presigned_url(
        method, Params={"Bucket": "bkt", "Key": "dir/a b+c%ü.txt", **params}, ExpiresIn=expires
    )
    http = "PUT" if method == "put_object" else "GET"
    return _from_url("s3", http, url, {}, b"")


def test_presigned_get_and_put() -> None:
    for req in (presigned(), presigned("put_object"), presigned(ResponseContentType="a/b c")):
        assert b"X-Amz-Signature=" in req.query
        assert req.auth(body_sha256=None).key is KEY_A
        req.auth(now=req.now + 59)


def test_presigned_expired() -> None:
    req = presigned(expires=60)
    with pytest.raises(AuthError) as exc:
        req.auth(now=req.now + 61)
    assert exc.value.code_s3 == "AccessDenied"
    assert exc.value.message == "Request has expired"


def test_presigned_tampered() -> None:
    req = presigned()
    sig = _query_value(req.query, b"X-Amz-Signature")
    cases = [
        replace(req, path=req.path.replace(b"dir", b"die")),
        replace(req, query=req.query.replace(b"X-Amz-Expires=60", b"X-Amz-Expires=600")),
        replace(req, query=req.query + b"&versionId=2"),
        replace(req, query=req.query.replace(sig.encode(), b"0" * 64)),
        replace(req, headers={"host": "other:1"}),
        replace(req, method="DELETE"),
    ]
    for bad in cases:
        with pytest.raises(AuthError) as exc:
            bad.auth()
        assert exc.value.code_s3 == "SignatureDoesNotMatch", bad
    both = replace(req, headers={**req.headers, "authorization": "AWS4-HMAC-SHA256 x"})
    with pytest.raises(AuthError) as exc:
        both.auth()
    assert exc.value.status == 400


def test_presigned_unknown_key_and_bedrock() -> None:
    req = presigned()
    with pytest.raises(AuthError) as exc:
        req.auth(keys={})
    assert exc.value.code_s3 == "InvalidAccessKeyId"
    with pytest.raises(AuthError):
        replace(req, service="bedrock").auth()


def test_presigned_caller_has_no_chunk_chain() -> None:
    with pytest.raises(AuthError) as exc:
        ChunkSignatures.for_caller(presigned().auth(body_sha256=None))
    assert exc.value.code_s3 == "AccessDenied"
