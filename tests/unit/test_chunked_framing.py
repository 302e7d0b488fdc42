"""The aws-chunked decoder's framing: every form, any split of the input, every malformation."""

from __future__ import annotations

import io
import itertools

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.wire.s3.chunked import MAX_LINE, MAX_TRAILERS, AwsChunkedDecoder, ChunkedError
from tests.unit.chunked_decoding import SIG, decode, decode_fails


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


def payload_of(body: bytes) -> bytes:
    return decode([body])[0]



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

