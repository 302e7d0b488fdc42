"""aws-chunked chunk signatures, checked as each chunk completes, against AWS's published SigV4
streaming examples."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.wire.auth.chunk_signatures import ChunkSignatures
from bifrost_py.wire.auth.credentials import AuthError, Key
from bifrost_py.wire.s3.chunked import AwsChunkedDecoder, ChunkedError
from tests.unit.chunked_decoding import SIG, decode_fails

# --- chunk signatures checked as the chunks complete (AWS's published SigV4 streaming examples) --

DOC_KEY = Key("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "doc")
DOC_DATE = "20130524T000000Z"
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
DOC_PAYLOAD = b"a" * 66560  # a 64 KiB chunk and a 1 KiB chunk
DOC_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
DOC_SIGS = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
DOC_TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
DOC_TRAILER_SIGS = [
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
]
DOC_TRAILER = b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
DOC_TRAILER_SIG = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"


def doc_body(sigs: list[str], trailer: bytes | None = None, trailer_sig: str = "") -> bytes:
    """The example's body: 0x10000 and 0x400 bytes of 'a', the final chunk, then (-TRAILER) the
    trailer and its signature, ending as AWS's example does, without an empty line."""
    body = b"10000;chunk-signature=%s\r\n%s\r\n" % (sigs[0].encode(), b"a" * 0x10000)
    body += b"400;chunk-signature=%s\r\n%s\r\n" % (sigs[1].encode(), b"a" * 0x400)
    body += b"0;chunk-signature=%s\r\n" % sigs[2].encode()
    if trailer is None:
        return body + b"\r\n"
    return body + trailer + b"x-amz-trailer-signature:%s\r\n" % trailer_sig.encode()


def doc_chain(trailer: bool = False) -> ChunkSignatures:
    seed = DOC_TRAILER_SEED if trailer else DOC_SEED
    return ChunkSignatures(DOC_KEY, seed, DOC_DATE, DOC_SCOPE, trailer=trailer)


def verified(pieces: list[bytes], chain: ChunkSignatures) -> bytes:
    decoder = AwsChunkedDecoder(verifier=chain)
    payload = b"".join(decoder.feed(p) for p in pieces)
    decoder.finish()
    assert chain.complete
    return payload


def rejected(pieces: list[bytes], chain: ChunkSignatures) -> None:
    decoder = AwsChunkedDecoder(verifier=chain)
    with pytest.raises(AuthError) as exc:
        for piece in pieces:
            decoder.feed(piece)
        decoder.finish()
    assert exc.value.code_s3 == "SignatureDoesNotMatch"
    assert not chain.complete
    with pytest.raises(ChunkedError, match="malformed"):  # the decoder stays failed
        decoder.finish()


def test_doc_example_body_has_the_documented_length() -> None:
    assert len(doc_body(DOC_SIGS)) == 66824  # the example's Content-Length


def test_doc_example_verifies() -> None:
    assert verified([doc_body(DOC_SIGS)], doc_chain()) == DOC_PAYLOAD


def test_doc_trailer_example_verifies() -> None:
    body = doc_body(DOC_TRAILER_SIGS, DOC_TRAILER, DOC_TRAILER_SIG)
    decoder = AwsChunkedDecoder(verifier=(chain := doc_chain(trailer=True)))
    assert decoder.feed(body) == DOC_PAYLOAD
    assert not chain.complete  # the body may still go on with another trailer line
    decoder.finish()
    assert chain.complete
    assert decoder.trailers["x-amz-checksum-crc32c"] == "sOO8/Q=="
    # With the closing empty line the trailer is checked without waiting for finish().
    chain = doc_chain(trailer=True)
    assert verified([body + b"\r\n"], chain) == DOC_PAYLOAD


def _cuts_inside_signatures(body: bytes) -> list[bytes]:
    """`body` cut in the middle of every chunk signature and of the trailer signature."""
    bounds = [0]
    for marker in (b"chunk-signature=", b"x-amz-trailer-signature:"):
        start = body.find(marker)
        while start >= 0:
            bounds += [start + len(marker) + 1, start + len(marker) + 33]
            start = body.find(marker, start + 1)
    bounds = [*sorted(bounds), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


def test_signatures_split_across_feeds() -> None:
    pieces = _cuts_inside_signatures(doc_body(DOC_SIGS))
    assert len(pieces) == 7
    assert verified(pieces, doc_chain()) == DOC_PAYLOAD
    body = doc_body(DOC_TRAILER_SIGS, DOC_TRAILER, DOC_TRAILER_SIG)
    assert verified(_cuts_inside_signatures(body), doc_chain(trailer=True)) == DOC_PAYLOAD


@given(cuts=st.lists(st.integers(0, 66824), max_size=20))
def test_doc_example_verifies_under_any_split(cuts: list[int]) -> None:
    body = doc_body(DOC_SIGS)
    bounds = [0, *sorted(cuts), len(body)]
    pieces = [body[a:b] for a, b in itertools.pairwise(bounds)]
    assert verified(pieces, doc_chain()) == DOC_PAYLOAD


def test_each_chunk_is_checked_as_soon_as_it_is_complete() -> None:
    calls: list[tuple[str, str]] = []

    class Recorder:
        def verify(self, chunk_sha256: str, signature: str) -> None:
            calls.append((chunk_sha256, signature))

        def verify_trailer(self, trailer_lines: bytes, signature: str) -> None:
            calls.append((trailer_lines.decode(), signature))

    body = doc_body(DOC_TRAILER_SIGS, DOC_TRAILER, DOC_TRAILER_SIG)
    first_end = body.index(b"\r\n400;")
    decoder = AwsChunkedDecoder(verifier=Recorder())
    decoder.feed(body[: first_end - 1])
    assert calls == []  # one byte of the first chunk is still to come
    decoder.feed(body[first_end - 1 : first_end])
    assert calls == [(hashlib.sha256(b"a" * 0x10000).hexdigest(), DOC_TRAILER_SIGS[0])]
    decoder.feed(body[first_end:])
    decoder.finish()
    assert calls[1:] == [
        (hashlib.sha256(b"a" * 0x400).hexdigest(), DOC_TRAILER_SIGS[1]),
        (hashlib.sha256(b"").hexdigest(), DOC_TRAILER_SIGS[2]),
        (DOC_TRAILER.decode(), DOC_TRAILER_SIG),  # the signature line itself is left out
    ]


def test_tampered_chunk_is_rejected_at_that_chunk() -> None:
    body = bytearray(doc_body(DOC_SIGS))
    body[body.index(b"\r\naaa") + 1000] = ord("b")
    rejected([bytes(body)], doc_chain())
    # The second chunk forged: the first passes, the second stops the stream.
    body = bytearray(doc_body(DOC_SIGS))
    body[body.index(b"400;") + 100] = ord("b")
    decoder = AwsChunkedDecoder(verifier=doc_chain())
    first = body.index(b"400;")
    assert decoder.feed(bytes(body[:first])) == b"a" * 0x10000
    with pytest.raises(AuthError):
        decoder.feed(bytes(body[first:]))


@pytest.mark.parametrize("which", [0, 1, 2])
def test_tampered_signature_is_rejected(which: int) -> None:
    sigs = list(DOC_SIGS)
    sigs[which] = sigs[which][:-1] + ("0" if sigs[which][-1] != "0" else "1")
    rejected([doc_body(sigs)], doc_chain())


def test_signatures_out_of_order_are_rejected() -> None:
    rejected([doc_body([DOC_SIGS[1], DOC_SIGS[0], DOC_SIGS[2]])], doc_chain())


@pytest.mark.parametrize("which", [0, 1, 2])
def test_missing_chunk_signature_is_rejected(which: int) -> None:
    body = doc_body(DOC_SIGS).replace(b";chunk-signature=" + DOC_SIGS[which].encode(), b"", 1)
    rejected([body], doc_chain())


def test_dropped_final_chunk_is_truncated() -> None:
    body = doc_body(DOC_SIGS)
    chain = doc_chain()
    decoder = AwsChunkedDecoder(verifier=chain)
    final = body.index(b"\r\n0;chunk-signature") + len(b"\r\n")
    assert decoder.feed(body[:final]) == DOC_PAYLOAD
    with pytest.raises(ChunkedError, match="truncated"):
        decoder.finish()
    assert not chain.complete


def test_a_valid_chain_that_then_breaks_is_rejected() -> None:
    # The first chunk is honest; the second repeats the first's signature.
    rejected([doc_body([DOC_SIGS[0], DOC_SIGS[0], DOC_SIGS[2]])], doc_chain())


def test_tampered_or_missing_trailer_is_rejected() -> None:
    forged = b"x-amz-checksum-crc32c:AAAAAA==\r\n"
    rejected([doc_body(DOC_TRAILER_SIGS, forged, DOC_TRAILER_SIG)], doc_chain(trailer=True))
    rejected([doc_body(DOC_TRAILER_SIGS, DOC_TRAILER, "")], doc_chain(trailer=True))
    bad_sig = DOC_TRAILER_SIG[:-1] + "0"
    rejected([doc_body(DOC_TRAILER_SIGS, DOC_TRAILER, bad_sig)], doc_chain(trailer=True))
    # An extra, unsigned trailer line after the signed ones.
    body = doc_body(DOC_TRAILER_SIGS, DOC_TRAILER, DOC_TRAILER_SIG) + b"x-extra:1\r\n\r\n"
    rejected([body], doc_chain(trailer=True))
    # No trailer at all on a -TRAILER body.
    rejected([doc_body(DOC_TRAILER_SIGS)], doc_chain(trailer=True))


def test_trailer_on_a_body_signed_without_one_is_rejected() -> None:
    body = doc_body(DOC_SIGS)[: -len(b"\r\n")] + DOC_TRAILER + b"\r\n"
    rejected([body], doc_chain())


def test_two_signatures_on_one_chunk_are_malformed() -> None:
    decode_fails([b"0;chunk-signature=%s;chunk-signature=%s\r\n\r\n" % (
        SIG[0].encode(), SIG[1].encode())], "more than one chunk-signature")


def test_verifying_keeps_memory_flat() -> None:
    # 4 MiB in 1 MiB chunks fed in 1000-byte pieces: each answer is at most its own piece, and
    # the verifier sees hashes, never chunk bytes.
    seen: list[str] = []

    class Recorder:
        def verify(self, chunk_sha256: str, signature: str) -> None:
            seen.append(chunk_sha256)

        def verify_trailer(self, trailer_lines: bytes, signature: str) -> None:
            assert trailer_lines == b"" and signature == ""

    data = b"d" * (1 << 20)
    chunk = b"%x;chunk-signature=%s\r\n" % (len(data), SIG[0].encode()) + data + b"\r\n"
    body = chunk * 4 + b"0;chunk-signature=%s\r\n\r\n" % SIG[1].encode()
    decoder = AwsChunkedDecoder(verifier=Recorder())
    for i in range(0, len(body), 1000):
        piece = body[i : i + 1000]
        assert len(decoder.feed(piece)) <= len(piece)
    decoder.finish()
    assert seen == [hashlib.sha256(data).hexdigest()] * 4 + [hashlib.sha256(b"").hexdigest()]
