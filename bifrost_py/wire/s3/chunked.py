"""Sans-IO push decoder for S3 ``aws-chunked`` request bodies.

S3 clients frame a streamed body as chunks, each ``<hex-size>[;chunk-signature=<sig>]\\r\\n``,
the data, then ``\\r\\n``. A zero-size chunk ends the data; trailer lines
(``x-amz-checksum-crc32:<b64>``, ``x-amz-trailer-signature:<sig>``) and an empty line follow::

    STREAMING-UNSIGNED-PAYLOAD-TRAILER         400\\r\\n<data>\\r\\n0\\r\\nname:value\\r\\n\\r\\n
    STREAMING-AWS4-HMAC-SHA256-PAYLOAD         400;chunk-signature=<sig>\\r\\n<data>\\r\\n
                                               0;chunk-signature=<sig>\\r\\n\\r\\n
    STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER as above, then name:value\\r\\n
                                               x-amz-trailer-signature:<sig>\\r\\n\\r\\n

The decoder undoes the framing and hands trailer values back as text. Signatures are collected;
checking them needs the request's signing key, which belongs to the auth layer, so the caller may
pass a ``ChunkVerifier`` (``ChunkSignatures``) that the decoder calls as each chunk completes, with
the SHA-256 of its data, and once at the end of the body with the raw trailer lines.

Bodies can be gigabytes, so data bytes are passed straight through as they arrive (hashed on the
way when verifying); the only things ever held back are one partial size or trailer line (at most
``MAX_LINE`` bytes) and the trailers.
"""

from __future__ import annotations

import hashlib
import re
from enum import Enum, auto
from typing import Protocol

# A size line is a few dozen bytes (hex size plus a 64-hex signature); 4 KiB leaves room for
# unknown chunk extensions while bounding what a hostile client can make us buffer.
MAX_LINE = 4096
# Clients send one checksum trailer plus, when signed, the trailer signature; the cap stops an
# endless trailer section from growing the dict without bound.
MAX_TRAILERS = 64

_CRLF = b"\r\n"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_TRAILER_SIGNATURE = "x-amz-trailer-signature"
_HEX = re.compile(rb"[0-9A-Fa-f]+")
# A trailer is an HTTP field: a token name, then a value of visible ASCII, spaces and tabs.
_TRAILER = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\x20-\x7e\t]*?)[ \t]*")


class ChunkedError(ValueError):
    """The body is not well-formed ``aws-chunked`` framing."""


class ChunkVerifier(Protocol):
    """What checks a signed body as it is decoded (``ChunkSignatures``); raises to reject it."""

    def verify(self, chunk_sha256: str, signature: str) -> None:
        """A chunk is complete (the 0-byte final one included); ``signature`` is "" if none."""

    def verify_trailer(self, trailer_lines: bytes, signature: str) -> None:
        """The body ended: its trailer lines (CRLF-ended, ``x-amz-trailer-signature`` left out)
        and that signature ("" if none); both empty for a body without trailers."""


class _State(Enum):
    SIZE = auto()  # reading a ``<hex-size>[;ext]`` line
    DATA = auto()  # passing through the current chunk's data
    DATA_END = auto()  # expecting the CRLF that closes a chunk's data
    TRAILER = auto()  # reading trailer lines after the zero-size chunk
    DONE = auto()  # the empty line after the trailers was seen
    FAILED = auto()  # an error was raised; the stream position is meaningless from here on


class AwsChunkedDecoder:
    """Feed the raw body piece by piece; get the payload back piece by piece.

    ``trailers`` maps lower-cased trailer names to values (``x-amz-trailer-signature`` included,
    so the caller can verify it); ``signatures`` lists every ``chunk-signature`` in order,
    the zero-size chunk's last. Both are complete once ``done`` is true.

    With a ``verifier`` every chunk is checked the moment its data is complete, so a forged chunk
    stops the body there; an exception from the verifier propagates from ``feed``/``finish``.
    """

    def __init__(self, max_chunk_size: int = 16 * 1024 * 1024,
                 verifier: ChunkVerifier | None = None) -> None:
        self.max_chunk_size = max_chunk_size
        self.trailers: dict[str, str] = {}
        self.signatures: list[str] = []
        self._verifier = verifier
        self._signature = ""  # the current chunk's chunk-signature
        self._hash = hashlib.sha256()  # the current chunk's data so far (used with a verifier)
        self._trailer_lines = bytearray()  # raw trailer lines, for the trailer signature
        self._state = _State.SIZE
        self._line = bytearray()  # the partial size or trailer line carried between feeds
        self._remaining = 0  # data bytes still to come in the current chunk
        self._crlf_seen = 0  # how much of the CRLF after chunk data has arrived

    @property
    def done(self) -> bool:
        return self._state is _State.DONE

    def feed(self, data: bytes) -> bytes:
        """Decode the next piece of the body and return the payload bytes it contained."""
        try:
            return self._feed(data)
        except Exception:
            # A verifier's rejection fails the stream as much as bad framing does.
            self._state = _State.FAILED
            raise

    def finish(self) -> None:
        """Declare the end of the body; raise ``ChunkedError`` if it ended too early, or the
        verifier's error if the signature over the trailers fails."""
        if self._state is _State.DONE:
            return
        if self._state is _State.FAILED:
            raise ChunkedError("aws-chunked body is malformed")
        if self._state is _State.TRAILER and not self._line:
            # AWS's own examples of signed trailers end with the trailer signature's CRLF and no
            # empty line, so the end of the body at a trailer line boundary also ends the trailers.
            try:
                self._end()
            except Exception:
                self._state = _State.FAILED
                raise
            return
        where = {
            _State.SIZE: "in a chunk size line",
            _State.DATA: "in chunk data",
            _State.DATA_END: "before the CRLF after chunk data",
            _State.TRAILER: "in a trailer line",
        }[self._state]
        self._state = _State.FAILED
        raise ChunkedError(f"aws-chunked body truncated {where}")

    def _feed(self, data: bytes) -> bytes:
        if self._state is _State.FAILED:
            raise ChunkedError("aws-chunked body is malformed")
        view = memoryview(data)
        size = len(data)
        out: list[memoryview] = []
        pos = 0
        while pos < size:
            state = self._state
            if state is _State.DATA:
                take = min(self._remaining, size - pos)
                piece = view[pos : pos + take]
                out.append(piece)
                pos += take
                self._remaining -= take
                if self._verifier is not None:
                    self._hash.update(piece)
                if not self._remaining:
                    self._state = _State.DATA_END
                    if self._verifier is not None:
                        self._verifier.verify(self._hash.hexdigest(), self._signature)
                        self._hash = hashlib.sha256()
            elif state is _State.DATA_END:
                pos = self._data_end(data, pos)
            elif state is _State.SIZE or state is _State.TRAILER:
                line, pos = self._take_line(data, pos)
                if line is None:
                    break
                if state is _State.SIZE:
                    self._size_line(line)
                else:
                    self._trailer_line(line)
            else:
                raise ChunkedError("data after the end of the aws-chunked body")
        if len(out) == 1 and len(out[0]) == size:
            # The common case (a piece entirely inside one chunk) costs no copy at all.
            return data
        return b"".join(out)

    def _data_end(self, data: bytes, pos: int) -> int:
        # The CRLF may itself be split across feeds, so match whatever part of it is here.
        need = _CRLF[self._crlf_seen :]
        got = data[pos : pos + len(need)]
        if not need.startswith(got):
            raise ChunkedError("chunk data is not followed by CRLF")
        self._crlf_seen += len(got)
        if self._crlf_seen == len(_CRLF):
            self._crlf_seen = 0
            self._state = _State.SIZE
        return pos + len(got)

    def _take_line(self, data: bytes, pos: int) -> tuple[bytes | None, int]:
        """Return the next complete line without its CRLF (or None if it is not all here yet)."""
        # Only look as far as a maximal line could reach, so a flood without a newline is caught
        # after MAX_LINE bytes instead of being buffered.
        window = MAX_LINE + len(_CRLF) - len(self._line)
        newline = data.find(b"\n", pos, pos + window)
        if newline < 0:
            if len(data) - pos >= window:
                raise ChunkedError(f"aws-chunked line longer than {MAX_LINE} bytes")
            self._line += data[pos:]
            return None, len(data)
        self._line += data[pos : newline + 1]
        line = bytes(self._line)
        self._line.clear()
        if not line.endswith(_CRLF):
            raise ChunkedError("aws-chunked line not terminated by CRLF")
        return line[: -len(_CRLF)], newline + 1

    def _size_line(self, line: bytes) -> None:
        hex_size, *extensions = line.split(b";")
        # int(x, 16) would also take "0x", "_", signs and spaces; the framing allows none of them.
        if not _HEX.fullmatch(hex_size):
            raise ChunkedError(f"invalid chunk size {_show(hex_size)}")
        chunk_size = int(hex_size, 16)
        if chunk_size > self.max_chunk_size:
            raise ChunkedError(f"chunk size {chunk_size} exceeds {self.max_chunk_size}")
        self._signature = ""
        for extension in extensions:
            name, _, value = extension.partition(b"=")
            # Unknown chunk extensions are legal HTTP and carry nothing we need.
            if name.strip().lower() == b"chunk-signature":
                # Two signatures on one chunk leave no single one to check.
                if self._signature:
                    raise ChunkedError("more than one chunk-signature on a chunk")
                self._signature = _ascii(value.strip())
                self.signatures.append(self._signature)
        if chunk_size:
            self._remaining = chunk_size
            self._state = _State.DATA
        else:
            self._state = _State.TRAILER
            if self._verifier is not None:
                self._verifier.verify(_EMPTY_SHA256, self._signature)

    def _end(self) -> None:
        """The trailer section is over: the body is complete once the verifier agrees."""
        if self._verifier is not None:
            signature = self.trailers.get(_TRAILER_SIGNATURE, "")
            self._verifier.verify_trailer(bytes(self._trailer_lines), signature)
        self._state = _State.DONE

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            self._end()
            return
        match = _TRAILER.fullmatch(line)
        if match is None:
            raise ChunkedError(f"invalid trailer line {_show(line)}")
        name = match[1].decode("ascii").lower()
        # Two values for one trailer (say two checksums) leave no single right answer.
        if name in self.trailers:
            raise ChunkedError(f"duplicate trailer {name}")
        if len(self.trailers) >= MAX_TRAILERS:
            raise ChunkedError(f"more than {MAX_TRAILERS} trailers")
        self.trailers[name] = match[2].decode("ascii")
        if self._verifier is not None and name != _TRAILER_SIGNATURE:
            # Signed as sent: the verifier canonicalises the lines itself.
            self._trailer_lines += line + _CRLF


def _ascii(raw: bytes) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise ChunkedError(f"non-ASCII chunk extension {_show(raw)}") from None


def _show(raw: bytes) -> str:
    """A bounded, printable rendering of client bytes for an error message."""
    return repr(raw[:64])
