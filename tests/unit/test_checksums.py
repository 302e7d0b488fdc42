"""S3 checksums: known vectors, botocore's wire form, composites and the request headers."""

from __future__ import annotations

import base64
import hashlib

import pytest
from botocore.httpchecksum import BaseChecksum, Crc32Checksum, Sha1Checksum, Sha256Checksum
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.domain.checksums import (
    ALGORITHMS,
    Checksum,
    composite,
    header_name,
    requested_algorithm,
)

VECTOR = b"123456789"


def b64_of(algorithm: str, data: bytes) -> str:
    checksum = Checksum(algorithm)
    checksum.update(data)
    return checksum.b64()


def digest_of(algorithm: str, data: bytes) -> bytes:
    checksum = Checksum(algorithm)
    checksum.update(data)
    return checksum.digest()


def test_known_vectors() -> None:
    crc32 = Checksum("CRC32")
    crc32.update(VECTOR)
    assert crc32.digest() == (0xCBF43926).to_bytes(4, "big")
    crc32c = Checksum("CRC32C")
    crc32c.update(VECTOR)
    assert crc32c.digest() == (0xE3069283).to_bytes(4, "big")
    # The trailer value in AWS's documented signed-trailer example, a CRC32C of 66560 'a's.
    assert b64_of("CRC32C", b"a" * 66560) == "sOO8/Q=="
    assert b64_of("SHA1", VECTOR) == base64.b64encode(hashlib.sha1(VECTOR).digest()).decode()
    assert b64_of("SHA256", b"") == base64.b64encode(hashlib.sha256().digest()).decode()


def test_empty_crcs_are_zero() -> None:
    assert Checksum("CRC32").b64() == "AAAAAA=="
    assert Checksum("CRC32C").b64() == "AAAAAA=="


@pytest.mark.parametrize(
    ("algorithm", "botocore_cls"),
    [("CRC32", Crc32Checksum), ("SHA1", Sha1Checksum), ("SHA256", Sha256Checksum)],
)
@given(pieces=st.lists(st.binary(max_size=300), max_size=8))
def test_matches_botocore(
    algorithm: str, botocore_cls: type[BaseChecksum], pieces: list[bytes]
) -> None:
    ours = Checksum(algorithm)
    theirs = botocore_cls()
    for piece in pieces:
        ours.update(piece)
        theirs.update(piece)
    assert ours.b64() == theirs.b64digest()
    assert ours.digest() == theirs.digest()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(data=st.binary(max_size=500), cut=st.integers(0, 500))
def test_incremental_equals_one_shot(algorithm: str, data: bytes, cut: int) -> None:
    split = Checksum(algorithm)
    split.update(data[:cut])
    split.update(memoryview(data)[cut:])
    assert split.digest() == digest_of(algorithm, data)


@pytest.mark.parametrize("algorithm", ["crc32", "CRC64NVME", "MD5", "", "sha-256"])
def test_unknown_algorithm(algorithm: str) -> None:
    with pytest.raises(ValueError, match="unsupported checksum algorithm"):
        Checksum(algorithm)
    with pytest.raises(ValueError, match="unsupported checksum algorithm"):
        header_name(algorithm)


def test_header_name() -> None:
    assert [header_name(a) for a in ALGORITHMS] == [
        "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c",
        "x-amz-checksum-sha1",
        "x-amz-checksum-sha256",
    ]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_composite(algorithm: str) -> None:
    parts = [b"part one" * 100, b"part two", b""]
    part_b64 = [b64_of(algorithm, p) for p in parts]
    raw = b"".join(base64.b64decode(v) for v in part_b64)
    assert composite(algorithm, part_b64) == f"{b64_of(algorithm, raw)}-3"


def test_composite_rejects_bad_parts() -> None:
    with pytest.raises(ValueError, match="not base64"):
        composite("CRC32", ["!!!!"])
    with pytest.raises(ValueError, match="expected 4"):
        composite("CRC32", [b64_of("SHA1", b"x")])


# --- requested_algorithm -----------------------------------------------------------------------


def test_value_header() -> None:
    value = b64_of("CRC32", b"hello")
    headers = {"x-amz-sdk-checksum-algorithm": "CRC32", "x-amz-checksum-crc32": value}
    assert requested_algorithm(headers) == ("CRC32", value)
    sha = b64_of("SHA256", b"hello")
    assert requested_algorithm({"x-amz-checksum-sha256": sha}) == ("SHA256", sha)


def test_named_only() -> None:
    # aws-chunked uploads: the value comes in the trailer x-amz-trailer announces.
    assert requested_algorithm(
        {"x-amz-sdk-checksum-algorithm": "CRC32", "x-amz-trailer": "x-amz-checksum-crc32"}
    ) == ("CRC32", "")
    assert requested_algorithm({"x-amz-trailer": "x-amz-checksum-crc32c"}) == ("CRC32C", "")
    assert requested_algorithm({"x-amz-sdk-checksum-algorithm": "sha1"}) == ("SHA1", "")
    assert requested_algorithm({"x-amz-checksum-algorithm": "SHA256"}) == ("SHA256", "")
    several = {"x-amz-trailer": "x-amz-meta-thing, X-Amz-Checksum-CRC32"}
    assert requested_algorithm(several) == ("CRC32", "")


def test_no_checksum() -> None:
    assert requested_algorithm({}) is None
    assert requested_algorithm({"content-md5": "x", "x-amz-trailer": "x-amz-meta-a"}) is None
    # Settings that share the header prefix are not checksum values.
    assert requested_algorithm({"x-amz-checksum-mode": "ENABLED"}) is None
    assert requested_algorithm({"x-amz-checksum-type": "COMPOSITE"}) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-sdk-checksum-algorithm": "CRC64NVME"},
        {"x-amz-checksum-crc64nvme": "AAAAAAAAAAA="},
        {"x-amz-trailer": "x-amz-checksum-crc64nvme"},
        {"x-amz-checksum-algorithm": "MD5"},
    ],
)
def test_unsupported_is_a_clear_value_error(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"unsupported checksum algorithm .*CRC32, CRC32C"):
        requested_algorithm(headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha1": b64_of("SHA1", b"")},
        {"x-amz-sdk-checksum-algorithm": "SHA256", "x-amz-checksum-crc32": "AAAAAA=="},
        {"x-amz-sdk-checksum-algorithm": "CRC32", "x-amz-trailer": "x-amz-checksum-crc32c"},
    ],
)
def test_conflicting_algorithms(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="conflicting"):
        requested_algorithm(headers)


@pytest.mark.parametrize("value", ["", "not base64!", "AAAA", b64_of("SHA256", b"")])
def test_malformed_value(value: str) -> None:
    with pytest.raises(ValueError, match="CRC32 checksum"):
        requested_algorithm({"x-amz-checksum-crc32": value})
