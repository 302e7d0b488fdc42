"""aws-chunked chunk signatures: the chain seeded by a request's header signature, checked against
AWS's published worked examples."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from bifrost_py.wire.auth.chunk_signatures import ChunkSignatures
from bifrost_py.wire.auth.verify import AuthError, Caller, Key
from tests.unit.signed_requests import Req

# --- aws-chunked chunk signatures (AWS's published worked examples) -------------------------

DOC_KEY = Key("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "doc")
DOC_DATE = "20130524T000000Z"
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
DOC_CHUNKS = [b"a" * 65536, b"a" * 1024, b""]
# ChunkSignatures takes each chunk's SHA-256, so a server can hash chunks as they stream.
DOC_HASHES = [hashlib.sha256(chunk).hexdigest() for chunk in DOC_CHUNKS]


def _doc_seed_request(trailer: bool) -> Req:
    content = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-date": DOC_DATE,
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "x-amz-content-sha256": content,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
    }
    if trailer:
        headers["x-amz-trailer"] = "x-amz-checksum-crc32c"
        signed = (
            "content-encoding;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer"
        )
        seed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
    else:
        headers["content-length"] = "66824"
        signed = (
            "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-decoded-content-length;x-amz-storage-class"
        )
        seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{DOC_SCOPE},"
        f"SignedHeaders={signed},Signature={seed}"
    )
    return Req("s3", "PUT", b"/examplebucket/chunkObject.txt", b"", headers, b"")


def test_chunk_signatures_aws_example() -> None:
    req = _doc_seed_request(trailer=False)
    caller = req.auth(body_sha256=None, keys={DOC_KEY.access_key_id: DOC_KEY})
    assert caller.seed_signature.startswith("4f232c43")
    sigs = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ]
    chain = ChunkSignatures.for_caller(caller)
    for digest, sig in zip(DOC_HASHES, sigs, strict=True):
        assert not chain.complete
        chain.verify(digest, sig)
    assert chain.complete
    chain.verify_trailer(b"", "")  # no trailer on this form: the end of the body is fine
    assert chain.complete
    # Out of order, altered data, or a restarted chain all fail.
    chain = ChunkSignatures(DOC_KEY, caller.seed_signature, DOC_DATE, DOC_SCOPE)
    with pytest.raises(AuthError) as exc:
        chain.verify(DOC_HASHES[1], sigs[1])
    assert exc.value.code_s3 == "SignatureDoesNotMatch"
    with pytest.raises(AuthError):  # a broken chain stays broken
        chain.verify(DOC_HASHES[0], sigs[0])
    assert not chain.complete
    chain = ChunkSignatures(DOC_KEY, caller.seed_signature, DOC_DATE, DOC_SCOPE)
    with pytest.raises(AuthError):
        chain.verify(hashlib.sha256(b"b" + DOC_CHUNKS[0][1:]).hexdigest(), sigs[0])
    wrong_key = replace(DOC_KEY, secret_access_key="other")
    with pytest.raises(AuthError):
        ChunkSignatures(wrong_key, caller.seed_signature, DOC_DATE, DOC_SCOPE).verify(
            DOC_HASHES[0], sigs[0]
        )


def _doc_chain(caller: Caller, sigs: list[str], trailer: bool = False) -> ChunkSignatures:
    chain = ChunkSignatures.for_caller(caller, trailer=trailer)
    for digest, sig in zip(DOC_HASHES, sigs, strict=True):
        chain.verify(digest, sig)
    return chain


def test_chunk_signatures_missing_or_misplaced() -> None:
    caller = _doc_seed_request(trailer=False).auth(
        body_sha256=None, keys={DOC_KEY.access_key_id: DOC_KEY}
    )
    sigs = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ]
    # A chunk without a signature.
    with pytest.raises(AuthError):
        ChunkSignatures.for_caller(caller).verify(DOC_HASHES[0], "")
    # The body ends before the final chunk.
    chain = ChunkSignatures.for_caller(caller)
    chain.verify(DOC_HASHES[0], sigs[0])
    with pytest.raises(AuthError):
        chain.verify_trailer(b"", "")
    assert not chain.complete
    # Anything after the final chunk.
    with pytest.raises(AuthError):
        _doc_chain(caller, sigs).verify(DOC_HASHES[0], sigs[0])
    # Trailers on a body that was not signed as -TRAILER.
    with pytest.raises(AuthError):
        _doc_chain(caller, sigs).verify_trailer(b"x-amz-checksum-crc32:AAAAAA==\r\n", "")
    with pytest.raises(AuthError):
        _doc_chain(caller, sigs).verify_trailer(b"", sigs[0])


def test_chunk_signatures_aws_trailer_example() -> None:
    req = _doc_seed_request(trailer=True)
    caller = req.auth(body_sha256=None, keys={DOC_KEY.access_key_id: DOC_KEY})
    sigs = [
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    ]
    trailer_sig = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
    for lines in (b"x-amz-checksum-crc32c:sOO8/Q==\r\n", b"x-amz-checksum-crc32c:sOO8/Q==\n"):
        chain = _doc_chain(caller, sigs, trailer=True)
        assert not chain.complete  # the trailer signature is still due
        chain.verify_trailer(lines, trailer_sig)
        assert chain.complete
    with pytest.raises(AuthError):
        _doc_chain(caller, sigs, trailer=True).verify_trailer(
            b"x-amz-checksum-crc32c:AAAAAA==\r\n", trailer_sig
        )
    # The -TRAILER form must end with a trailer signature.
    with pytest.raises(AuthError):
        _doc_chain(caller, sigs, trailer=True).verify_trailer(
            b"x-amz-checksum-crc32c:sOO8/Q==\r\n", ""
        )
