"""Streaming checksums for S3's additional checksum algorithms.

On the wire a checksum is the base64 of its raw digest: the CRC as four big-endian bytes, or the
SHA digest, in ``x-amz-checksum-<alg>`` headers and trailers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Mapping

import crc32c

ALGORITHMS: tuple[str, ...] = ("CRC32", "CRC32C", "SHA1", "SHA256")

_PREFIX = "x-amz-checksum-"
# Headers that share the prefix but name a setting rather than carry a checksum value.
_SETTING_HEADERS = frozenset(
    {"x-amz-checksum-mode", "x-amz-checksum-type", "x-amz-checksum-algorithm"}
)
_CRCS: dict[str, Callable[[bytes | memoryview, int], int]] = {
    "CRC32": zlib.crc32,
    "CRC32C": crc32c.crc32c,
}
_DIGEST_SIZES = {"CRC32": 4, "CRC32C": 4, "SHA1": 20, "SHA256": 32}


class Checksum:
    """One algorithm's checksum, fed incrementally as a body streams past."""

    def __init__(self, algorithm: str) -> None:
        _check(algorithm)
        self.algorithm = algorithm
        self._crc = 0
        self._hash = None if algorithm in _CRCS else hashlib.new(algorithm.lower())

    def update(self, data: bytes | memoryview) -> None:
        if self._hash is None:
            self._crc = _CRCS[self.algorithm](data, self._crc)
        else:
            self._hash.update(data)

    def digest(self) -> bytes:
        if self._hash is None:
            return self._crc.to_bytes(4, "big")
        return self._hash.digest()

    def b64(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")


def header_name(algorithm: str) -> str:
    """The header (and trailer) that carries ``algorithm``'s value: ``x-amz-checksum-crc32``."""
    _check(algorithm)
    return _PREFIX + algorithm.lower()


def composite(algorithm: str, part_b64: list[str]) -> str:
    """S3's COMPOSITE checksum of a multipart object from its parts' base64 checksums.

    It is the checksum of the parts' raw digests laid end to end, suffixed ``-<part count>``.
    """
    checksum = Checksum(algorithm)
    for value in part_b64:
        checksum.update(_decode(algorithm, value))
    return f"{checksum.b64()}-{len(part_b64)}"


def requested_algorithm(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """The checksum a request asks to be verified, from its lower-cased header names.

    Returns ``(ALGORITHM, expected_b64)`` when an ``x-amz-checksum-<alg>`` header carries the
    value, ``(ALGORITHM, "")`` when the algorithm is only named (by
    ``x-amz-sdk-checksum-algorithm``, ``x-amz-checksum-algorithm`` or ``x-amz-trailer``) and the
    value will arrive in a trailer, and None when the request names no checksum. Raises
    ``ValueError`` for an unsupported algorithm, a malformed value, or headers that disagree on
    the algorithm.
    """
    named: set[str] = set()
    values: dict[str, str] = {}
    for name, value in headers.items():
        if name.startswith(_PREFIX) and name not in _SETTING_HEADERS:
            algorithm = _from_name(name)
            _decode(algorithm, value)
            values[algorithm] = value.strip()
    for name in ("x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"):
        if name in headers:
            named.add(_from_name(headers[name]))
    # x-amz-trailer lists every trailer the body ends with; only checksum ones name an algorithm.
    for trailer in headers.get("x-amz-trailer", "").split(","):
        if trailer.strip().lower().startswith(_PREFIX):
            named.add(_from_name(trailer))
    named.update(values)
    if not named:
        return None
    if len(named) > 1:
        # S3 accepts a single checksum per request; which one to verify would be a guess.
        raise ValueError(f"conflicting checksum algorithms requested: {', '.join(sorted(named))}")
    (algorithm,) = named
    return algorithm, values.get(algorithm, "")


def _check(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"unsupported checksum algorithm {algorithm!r}; supported: {', '.join(ALGORITHMS)}"
        )


def _from_name(raw: str) -> str:
    """``CRC32``, ``crc32`` or ``x-amz-checksum-crc32`` -> ``CRC32`` (ValueError if unsupported)."""
    name = raw.strip().lower().removeprefix(_PREFIX).upper()
    _check(name)
    return name


def _decode(algorithm: str, value: str) -> bytes:
    """The raw digest in a base64 checksum value; ValueError unless it fits ``algorithm``."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        raise ValueError(f"{algorithm} checksum {value[:64]!r} is not base64") from None
    if len(raw) != _DIGEST_SIZES[algorithm]:
        raise ValueError(
            f"{algorithm} checksum {value[:64]!r} is {len(raw)} bytes, "
            f"expected {_DIGEST_SIZES[algorithm]}"
        )
    return raw
