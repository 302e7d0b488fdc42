"""The aws-chunked decoder: every framing form, any split of the input, every malformation, and
chunk signatures checked as each chunk completes."""

from __future__ import annotations

import hashlib
import io
import itertools

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.wire.auth.chunk_signatures import ChunkSignatures
from bifrost_py.wire.auth.credentials import AuthError, Key
from bifrost_py.wire.s3.chunked import MAX_LINE, MAX_TRAILERS, AwsChunkedDecoder, ChunkedError

SIG = [f"{i:x}" * 64 for i in range(16)]  # stand-in signatures: 64 hex characters each


def unsigned(payload: bytes, chunk: int, trailers: dict[str, str]) -> bytes:
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER framing."""
    pieces = [payload[i : i + chunk] for i in range(0, len(payload), chunk)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    lines = b"".join(f"{k}:{v}\r\n".encode() for k, v in trailers.items())
    return body + b"0\r\n" + lines + b"\r\n"


def signed(payload: bytes, chunk: int, trailers: dict[str, str] | None = None) -> bytes:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD framing, or its -TRAILER form when trailers are given."""
    pieces = [payload[i : i + chunk] for i in range(0, len(payload), chunk)]
    body = b"".join(
        b"%x;chunk-signature=%s\r\n%s\r\n" % (len(p), SIG[i % 16].encode(), p)
        for i, p in enumerate(pieces)
    )
    # The zero-size chunk is signed too; its line is followed by no data and no data CRLF.
    body += b"0;chunk-signature=%s\r\n" % SIG[len(pieces) % 16].encode()
    if trailers is None:
        return body + b"\r\n"
    lines = b"".join(f"{k}:{v}\r\n".encode() for k, v in trailers.items())
    return body + lines + b"x-amz-trailer-signature:" + SIG[15].encode() + b"\r\n\r\n"


def decode(pieces: list[bytes]) -> tuple[bytes, AwsChunkedDecoder]:
    decoder = AwsChunkedDecoder()
    payload = b"".join(decoder.feed(p) for p in pieces)
    decoder.finish()
    return payload, decoder


def payload_of(body: bytes) -> bytes:
    return decode([body])[0]


def decode_fails(pieces: list[bytes], match: str) -> None:
    decoder = AwsChunkedDecoder()
    with pytest.raises(ChunkedError, match=match):
        for piece in pieces:
            decoder.feed(piece)
        decoder.finish()


PAYLOAD = bytes(range(256)) * 40 + b"tail"  # 10244 bytes: full chunks and a short last one


# --- the three forms ---------------------------------------------------------------------------


def test_unsigned_with_trailer() -> None:
    payload, decoder = decode([unsigned(PAYLOAD, 4096, {"x-amz-checksum-crc32": "AAAAAA=="})])
    assert payload == PAYLOAD
    assert decoder.trailers == {"x-amz-checksum-crc32": "AAAAAA=="}
    assert decoder.signatures == []
    assert decoder.done


def test_signed() -> None:
    payload, decoder = decode([signed(PAYLOAD, 4096)])
    assert payload == PAYLOAD
    assert decoder.trailers == {}
    # Three data chunks, then the final zero-size chunk's signature.
    assert decoder.signatures == SIG[:4]


def test_signed_with_trailer() -> None:
    payload, decoder = decode([signed(PAYLOAD, 8192, {"x-amz-checksum-crc32c": "sOO8/Q=="})])
    assert payload == PAYLOAD
    assert decoder.signatures == SIG[:3]
    assert decoder.trailers == {
        "x-amz-checksum-crc32c": "sOO8/Q==",
        "x-amz-trailer-signature": SIG[15],
    }


def test_empty_payload_forms() -> None:
    assert payload_of(b"0\r\n\r\n") == b""
    assert payload_of(signed(b"", 1024)) == b""
    payload, decoder = decode([unsigned(b"", 1024, {"x-amz-checksum-crc32": "AAAAAA=="})])
    assert payload == b""
    assert decoder.trailers == {"x-amz-checksum-crc32": "AAAAAA=="}


def test_botocore_framing_round_trips() -> None:
    # What botocore itself sends for a body with a CRC32 trailer.
    body = AwsChunkedWrapper(
        io.BytesIO(PAYLOAD), Crc32Checksum, "x-amz-checksum-crc32", chunk_size=3000
    ).read()
    payload, decoder = decode([body])
    assert payload == PAYLOAD
    expected = Crc32Checksum()
    expected.update(PAYLOAD)
    assert decoder.trailers == {"x-amz-checksum-crc32": expected.b64digest()}


def test_size_line_details() -> None:
    # Leading zeros and upper-case hex are fine; unknown extensions are skipped.
    assert payload_of(b"0003\r\nabc\r\n0\r\n\r\n") == b"abc"
    assert payload_of(b"A\r\n0123456789\r\n0\r\n\r\n") == b"0123456789"
    line = b"3;foo=bar;chunk-signature=" + SIG[1].encode()
    payload, decoder = decode([line + b"\r\nabc\r\n0\r\n\r\n"])
    assert payload == b"abc"
    assert decoder.signatures == [SIG[1]]


def test_trailer_names_lower_cased_and_values_trimmed() -> None:
    _, decoder = decode([b"0\r\nX-Amz-Checksum-CRC32: AAAAAA== \r\n\r\n"])
    assert decoder.trailers == {"x-amz-checksum-crc32": "AAAAAA=="}


def test_end_at_a_trailer_line_boundary_is_accepted() -> None:
    # AWS's documented signed-trailer example stops after the trailer signature's CRLF.
    body = signed(b"abc", 1024, {"x-amz-checksum-crc32": "AAAAAA=="})
    payload, decoder = decode([body[: -len(b"\r\n")]])
    assert payload == b"abc"
    assert decoder.trailers["x-amz-trailer-signature"] == SIG[15]
    assert decode([b"3\r\nabc\r\n0\r\n"])[1].done


def test_nothing_is_returned_before_it_arrives() -> None:
    decoder = AwsChunkedDecoder()
    assert decoder.feed(b"5\r") == b""
    assert decoder.feed(b"\nab") == b"ab"
    assert decoder.feed(b"cde\r\n") == b"cde"
    assert decoder.feed(b"0\r\n") == b""
    assert not decoder.done
    assert decoder.feed(b"\r\n") == b""
    assert decoder.done
    assert decoder.feed(b"") == b""
    decoder.finish()
    decoder.finish()


def test_a_piece_inside_one_chunk_is_returned_without_a_copy() -> None:
    decoder = AwsChunkedDecoder()
    decoder.feed(b"100000\r\n")
    piece = b"x" * 65536
    assert decoder.feed(piece) is piece


# --- any split of the input gives the same result ------------------------------------------------

bodies = st.one_of(
    st.builds(
        unsigned,
        st.binary(max_size=300),
        st.integers(1, 64),
        st.dictionaries(
            st.sampled_from(["x-amz-checksum-crc32", "x-amz-checksum-sha256", "x-extra"]),
            st.text("ABCDEFabcdef0123456789+/=", max_size=44),
            max_size=2,
        ),
    ),
    st.builds(signed, st.binary(max_size=300), st.integers(1, 64)),
    st.builds(
        signed,
        st.binary(max_size=300),
        st.integers(1, 64),
        st.just({"x-amz-checksum-crc32": "AAAAAA=="}),
    ),
)


@given(body=bodies, cuts=st.lists(st.integers(0, 2000), max_size=30))
def test_any_split_decodes_like_the_whole(body: bytes, cuts: list[int]) -> None:
    whole_payload, whole = decode([body])
    bounds = [0, *sorted(c % (len(body) + 1) for c in cuts), len(body)]
    split_payload, split = decode([body[a:b] for a, b in itertools.pairwise(bounds)])
    assert split_payload == whole_payload
    assert split.trailers == whole.trailers
    assert split.signatures == whole.signatures
    assert split.done


@pytest.mark.parametrize(
    "body",
    [
        unsigned(PAYLOAD[:700], 97, {"x-amz-checksum-crc32": "AAAAAA=="}),
        signed(PAYLOAD[:700], 97, {"x-amz-checksum-crc32": "AAAAAA=="}),
        signed(PAYLOAD[:700], 97),
    ],
)
def test_byte_by_byte(body: bytes) -> None:
    whole_payload, whole = decode([body])
    split_payload, split = decode([body[i : i + 1] for i in range(len(body))])
    assert split_payload == whole_payload == PAYLOAD[:700]
    assert split.trailers == whole.trailers
    assert split.signatures == whole.signatures


# --- malformed bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size_line",
    [b"xyz", b"", b"0x10", b"+10", b"1_0", b" 10", b"10 ", b"-1", b"\xff", b";chunk-signature=a"],
)
def test_bad_hex_size(size_line: bytes) -> None:
    decode_fails([size_line + b"\r\n"], "invalid chunk size")


def test_chunk_larger_than_the_limit() -> None:
    decoder = AwsChunkedDecoder(max_chunk_size=1024)
    decoder.feed(b"400\r\n")  # exactly the limit is fine
    with pytest.raises(ChunkedError, match="exceeds"):
        AwsChunkedDecoder(max_chunk_size=1024).feed(b"401\r\n")
    with pytest.raises(ChunkedError, match="exceeds"):
        AwsChunkedDecoder().feed(b"f" * 30 + b"\r\n")


@pytest.mark.parametrize("after", [b"XY", b"\n\r", b"\r\r", b"\rX", b"0\r\n"])
def test_missing_crlf_after_data(after: bytes) -> None:
    decode_fails([b"3\r\nabc" + after + b"0\r\n\r\n"], "not followed by CRLF")
    # The same when the bad byte arrives in a later piece.
    decode_fails([b"3\r\nabc", after[:1], after[1:]], "not followed by CRLF")


def test_line_not_ended_by_crlf() -> None:
    decode_fails([b"3\nabc\r\n0\r\n\r\n"], "not terminated by CRLF")
    decode_fails([b"0\r\nx-amz-checksum-crc32:AAAAAA==\n\r\n"], "not terminated by CRLF")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"", "in a chunk size line"),
        (b"1", "in a chunk size line"),
        (b"10;chunk-signature=" + SIG[0].encode()[:20], "in a chunk size line"),
        (b"5\r\nab", "in chunk data"),
        (b"5\r\nabcde", "before the CRLF"),
        (b"5\r\nabcde\r", "before the CRLF"),
        (b"5\r\nabcde\r\n", "in a chunk size line"),
        (b"5\r\nabcde\r\n0", "in a chunk size line"),
        (b"5\r\nabcde\r\n0\r", "in a chunk size line"),
        (b"0\r\nx-amz-checksum-crc32:AAAA", "in a trailer line"),
        (b"0\r\nx-amz-checksum-crc32:AAAAAA==\r", "in a trailer line"),
        (b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r", "in a trailer line"),
    ],
)
def test_truncated(body: bytes, where: str) -> None:
    decode_fails([body], f"truncated {where}")


def test_truncated_signed_trailer() -> None:
    body = signed(b"abc", 1024, {"x-amz-checksum-crc32": "AAAAAA=="})
    decode_fails([body[:-10]], "truncated in a trailer line")


def test_size_line_too_long() -> None:
    line = b"1;chunk-signature=" + b"a" * MAX_LINE
    decode_fails([line + b"\r\n"], "longer than")
    # Caught as soon as the limit is passed, without waiting for (or buffering) the rest.
    decoder = AwsChunkedDecoder()
    decoder.feed(b"1;" + b"a" * (MAX_LINE - 2))
    with pytest.raises(ChunkedError, match="longer than"):
        decoder.feed(b"aa")
    # A line of exactly MAX_LINE bytes is allowed.
    assert payload_of(b"1;x=" + b"a" * (MAX_LINE - 4) + b"\r\nz\r\n0\r\n\r\n") == b"z"


def test_trailer_line_too_long() -> None:
    decode_fails([b"0\r\nx-long:" + b"a" * MAX_LINE + b"\r\n\r\n"], "longer than")


@pytest.mark.parametrize(
    "line",
    [b"no-colon", b":value", b"bad name:v", b"name:\x01", b"name:caf\xc3\xa9", b"name:a\rb"],
)
def test_bad_trailer_line(line: bytes) -> None:
    decode_fails([b"0\r\n" + line + b"\r\n\r\n"], "invalid trailer line")


def test_duplicate_trailer() -> None:
    decode_fails([b"0\r\nx-a:1\r\nX-A:2\r\n\r\n"], "duplicate trailer")


def test_too_many_trailers() -> None:
    lines = b"".join(b"x-t%d:v\r\n" % i for i in range(MAX_TRAILERS + 1))
    decode_fails([b"0\r\n" + lines + b"\r\n"], f"more than {MAX_TRAILERS}")


@pytest.mark.parametrize("extra", [b"x", b"\r\n", b"0\r\n\r\n"])
def test_data_after_the_end(extra: bytes) -> None:
    decode_fails([b"0\r\n\r\n" + extra], "after the end")
    decode_fails([b"3\r\nabc\r\n0\r\n\r\n", extra], "after the end")


def test_non_ascii_signature() -> None:
    decode_fails([b"0;chunk-signature=\xff\r\n\r\n"], "non-ASCII")


def test_decoder_stays_failed() -> None:
    decoder = AwsChunkedDecoder()
    with pytest.raises(ChunkedError):
        decoder.feed(b"zz\r\n")
    with pytest.raises(ChunkedError, match="malformed"):
        decoder.feed(b"0\r\n\r\n")
    with pytest.raises(ChunkedError, match="malformed"):
        decoder.finish()
    assert not decoder.done


# --- memory and speed ---------------------------------------------------------------------------


def test_nothing_accumulates_while_streaming() -> None:
    # Feed 4 MiB of 1 MiB chunks in 1000-byte pieces; each answer is at most its own piece.
    chunk = b"%x\r\n" % (1 << 20) + b"d" * (1 << 20) + b"\r\n"
    body = chunk * 4 + b"0\r\n\r\n"
    decoder = AwsChunkedDecoder()
    total = 0
    for i in range(0, len(body), 1000):
        piece = body[i : i + 1000]
        out = decoder.feed(piece)
        assert len(out) <= len(piece)
        total += len(out)
    decoder.finish()
    assert total == 4 << 20


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
