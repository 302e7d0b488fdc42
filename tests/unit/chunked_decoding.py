"""A stand-in for chunk signatures and decoding that must fail, shared by the aws-chunked tests."""

from __future__ import annotations

import pytest

from bifrost_py.wire.s3.chunked import AwsChunkedDecoder, ChunkedError

SIG = [f"{i:x}" * 64 for i in range(16)]  # stand-in signatures: 64 hex characters each


def decode(pieces: list[bytes]) -> tuple[bytes, AwsChunkedDecoder]:
    decoder = AwsChunkedDecoder()
    payload = b"".join(decoder.feed(p) for p in pieces)
    decoder.finish()
    return payload, decoder


def decode_fails(pieces: list[bytes], match: str) -> None:
    decoder = AwsChunkedDecoder()
    with pytest.raises(ChunkedError, match=match):
        for piece in pieces:
            decoder.feed(piece)
        decoder.finish()

