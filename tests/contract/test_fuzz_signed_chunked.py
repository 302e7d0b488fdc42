"""Signed aws-chunked PUTs (STREAMING-UNSIGNED-PAYLOAD-TRAILER) with mangled size lines, chunk
ends, trailers, decoded lengths and truncation.

Properties: those of every answer (fuzz_signed.py) and of the store (fuzz_signed_fixtures.py); a
well-formed, honest body is stored as it is; and the object a chunked PUT replaces holds what a 200
answered, or else what it held before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.contract.bad_input_helpers import crc32_b64
from tests.contract.fuzz_signed import (
    CHUNKED_KEY,
    FUZZ_BUCKET,
    Answer,
    Signer,
    check_s3_answer,
    clip,
    exchange,
    fuzz_settings,
)
from tests.contract.fuzz_signed_fixtures import *  # noqa: F403 - the fixtures
from tests.contract.fuzz_signed_fixtures import Sentinels
from tests.contract.s3_helpers import etag_of


def _resize(size: bytes, delta: int) -> bytes:
    try:
        return b"%x" % max(int(size, 16) + delta, 0)
    except ValueError:
        return size


# Size line mangles that keep the framing's meaning, and ones that may or must not.
KEEPING = {"upper": lambda s: s.upper(), "zeros": lambda s: b"000" + s}
CHANGING: dict[str, Callable[[bytes], bytes]] = {
    "ext": lambda s: s + b";foo=bar",
    "signature": lambda s: s + b";chunk-signature=" + b"0" * 64,
    "plus-one": lambda s: _resize(s, 1),
    "minus-one": lambda s: _resize(s, -1),
    "huge": lambda s: b"fffffffff",
    "enormous": lambda s: b"f" * 40,
    "garbage": lambda s: b"zz",
    "negative": lambda s: b"-" + s,
    "hex-prefix": lambda s: b"0x" + s,
    "space": lambda s: b" " + s,
    "plus": lambda s: b"+" + s,
    "empty": lambda s: b"",
    "fullwidth": lambda s: "\uff11".encode(),
    "long-line": lambda s: s + b";" + b"x" * 5000,
    "nul": lambda s: s + b"\x00",
    "underscore": lambda s: s[:1] + b"_" + s[1:],
}
TRAILERS: dict[str, Callable[[bytes], list[bytes]]] = {
    "none": lambda p: [],
    "crc-right": lambda p: [b"x-amz-checksum-crc32:" + crc32_b64(p).encode()],
    "crc-wrong": lambda p: [b"x-amz-checksum-crc32:" + crc32_b64(p + b"x").encode()],
    "crc-garbage": lambda p: [b"x-amz-checksum-crc32:not base64"],
    "custom": lambda p: [b"x-amz-meta-foo: bar"],
    "bad-name": lambda p: [b"bad name:v"],
    "no-colon": lambda p: [b"nocolon"],
    "non-ascii": lambda p: ["x-amz-\u00e9:v".encode()],
    "duplicate": lambda p: [b"x-amz-checksum-crc32:" + crc32_b64(p).encode()] * 2,
    "many": lambda p: [b"x-amz-t%d:v" % i for i in range(70)],
    "long": lambda p: [b"x-amz-long:" + b"v" * 5000],
    "signature": lambda p: [b"x-amz-trailer-signature:" + b"0" * 64],
}


@dataclass(frozen=True)
class ChunkedCase:
    payload: bytes
    body: bytes
    headers: tuple[tuple[str, str], ...]
    mode: str  # trailer | unsigned | sha256: what x-amz-content-sha256 says
    valid: bool  # well-formed and honest: must be stored as `payload`
    how: str

    def __repr__(self) -> str:
        return (f"ChunkedCase({self.how}, valid={self.valid}, mode={self.mode}, "
                f"headers={self.headers}, payload={clip(self.payload)!r}, "
                f"body={clip(self.body)!r})")


@st.composite
def chunked_cases(draw: st.DrawFn) -> ChunkedCase:
    # Small enough that the server has read all of it even when it answers before reading.
    payload = draw(st.binary(max_size=300) | st.sampled_from([b"", bytes(range(256)) * 8]))
    step = draw(st.integers(1, 128) | st.just(8192))
    # [size, size line end, data, data end]
    frames = [[b"%x" % len(piece), b"\r\n", piece, b"\r\n"]
              for piece in (payload[i:i + step] for i in range(0, len(payload), step))]
    frames.append([b"0", b"\r\n", b"", b""])  # the final chunk: no data, no data end
    valid = True
    how = []
    names = sorted({*KEEPING, *CHANGING, "data-lf", "data-none", "data-xx", "data-extra",
                    "line-lf"})
    mangles = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(names)), min_size=1,
                       max_size=2)
    for index, name in draw(st.one_of(st.just([]), mangles)):
        frame = frames[index % len(frames)]
        final = frame is frames[-1]
        how.append(f"{name}@{index % len(frames)}")
        if name in KEEPING:
            frame[0] = KEEPING[name](frame[0])
            continue
        valid = False
        if name in CHANGING:
            frame[0] = CHANGING[name](frame[0])
        elif name == "line-lf":
            frame[1] = b"\n"
        elif final:
            continue
        elif name == "data-lf":
            frame[3] = b"\n"
        elif name == "data-none":
            frame[3] = b""
        elif name == "data-xx":
            frame[3] = b"XX"
        else:
            frame[2] += b"!"
    trailer = draw(st.sampled_from(["none"] * 4 + ["crc-right"] * 4 + sorted(TRAILERS)))
    end = draw(st.sampled_from([b"\r\n"] * 5 + [b"", b"\r\nafter the end"]))
    body = b"".join(b"".join(frame) for frame in frames)
    body += b"".join(line + b"\r\n" for line in TRAILERS[trailer](payload)) + end
    truncated = draw(st.one_of(st.none(), st.none(), st.none(),
                               st.integers(0, max(len(body) - 1, 0))))
    if truncated is not None:
        body = body[:truncated]
    declared = draw(st.sampled_from(["right"] * 12 + ["plus-one", "minus-one", "zero", "absent",
                                                    "abc", "-1", "1.5", " ", "0x10", "1e3",
                                                    "huge", "\u00b2"]))  # isdigit(), not int()
    declared_value = {"right": str(len(payload)), "plus-one": str(len(payload) + 1),
                      "minus-one": str(max(len(payload) - 1, 0)), "zero": "0", "absent": None,
                      "huge": str(6 * 2**30)}.get(declared, declared)
    trailer_header = draw(st.sampled_from([None] * 4 + ["x-amz-checksum-crc32"] * 4 + [
                                           "x-amz-checksum-sha256",
                                           "x-amz-checksum-crc32,x-amz-checksum-sha256",
                                           "x-amz-checksum-bogus", "x-amz-meta-foo"]))
    encoding = draw(st.sampled_from(["aws-chunked"] * 5 + ["gzip,aws-chunked", None]))
    mode = draw(st.sampled_from(["trailer"] * 5 + ["unsigned", "sha256"]))
    headers = tuple((k, v) for k, v in (("Content-Encoding", encoding),
                                        ("x-amz-decoded-content-length", declared_value),
                                        ("x-amz-trailer", trailer_header)) if v is not None)
    checksum_ok = ((trailer == "crc-right" and trailer_header in (None, "x-amz-checksum-crc32"))
                   or (trailer == "none" and trailer_header is None))
    valid = (valid and checksum_ok and end == b"\r\n" and truncated is None
             and declared == "right" and encoding == "aws-chunked" and mode == "trailer")
    how += [f"trailer={trailer}", f"end={end!r}", f"truncated={truncated}",
            f"declared={declared}"]
    return ChunkedCase(payload, body, headers, mode, valid, " ".join(how))


class ChunkedTarget:
    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self.data = s3.get_object(Bucket=FUZZ_BUCKET, Key=CHUNKED_KEY)["Body"].read()

    def check(self, case: ChunkedCase, answer: Answer) -> None:
        """A 200 stored exactly what it answered (the payload, for a valid body); anything
        else left the previous object as it was."""
        got = self.s3.get_object(Bucket=FUZZ_BUCKET, Key=CHUNKED_KEY)
        data = got["Body"].read()
        assert got["ETag"] == etag_of(data), (case, answer)
        if answer.status == 200:
            assert answer.headers.get("etag") == got["ETag"], (case, answer)
            if case.valid:
                assert data == case.payload, (case, answer)
            self.data = data
        else:
            assert data == self.data, (case, answer)


@pytest.fixture(scope="module")
def chunked_target(s3: Any, sentinels: Sentinels) -> ChunkedTarget:
    return ChunkedTarget(s3)


@fuzz_settings(200)
@given(case=chunked_cases())
def test_signed_aws_chunked_puts_are_answered_well_and_never_store_a_bad_body(
        signer: Signer, sentinels: Sentinels, chunked_target: ChunkedTarget,
        case: ChunkedCase) -> None:
    request = signer.s3("PUT", f"/{FUZZ_BUCKET}/{CHUNKED_KEY}", "", case.body,
                        dict(case.headers), payload=case.mode)
    answer = exchange(signer.port, request)
    check_s3_answer(request, answer, authenticated=True)
    if case.valid:
        assert answer.status == 200, (case, answer)
    chunked_target.check(case, answer)
    sentinels.quick_check()
