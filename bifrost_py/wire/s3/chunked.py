"""Sans-IO push decoder for S3 ``aws-chunked`` request bodies.

S3 clients frame a streamed body as chunks, each ``<hex-size>[;chunk-signature=<sig>]\\r\\n``,
the data, then ``\\r\\n``. A zero-size chunk ends the data; trailer lines
(``x-amz-checksum-crc32:<b64>``, ``x-amz-trailer-signature:<sig>``) and an empty line follow::

    STREAMING-UNSIGNED-PAYLOAD-TRAILER         400\\r\\n<data>\\r\\n0\\r\\nname:value\\r\\n\\r\\n
    STREAMING-AWS4-HMAC-SHA256-PAYLOAD         400;chunk-signature=<sig>\\r\\n<data>\\r\\n
                                               0;chunk-signature=<sig>\\r\\n\\r\\n
    STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER as above, then name:value\\r\\n
                                               x-amz-trailer-signature:<sig>\\r\\n\\r\\n

The decoder only undoes the framing: signatures are collected, not checked (verification needs the
request's signing key and belongs to the auth layer), and trailer values are handed back as text.

Bodies can be gigabytes, so data bytes are passed straight through as they arrive; the only things
ever held back are one partial size or trailer line (at most ``MAX_LINE`` bytes) and the trailers.
"""

from __future__ import annotations

import re
from enum import Enum, auto

# A size line is a few dozen bytes (hex size plus a 64-hex signature); 4 KiB leaves room for
# unknown chunk extensions while bounding what a hostile client can make us buffer.
MAX_LINE = 4096
# Clients send one checksum trailer plus, when signed, the trailer signature; the cap stops an
# endless trailer section from growing the dict without bound.
MAX_TRAILERS = 64

_CRLF = b"\r\n"
_HEX = re.compile(rb"[0-9A-Fa-f]+")
# A trailer is an HTTP field: a token name, then a value of visible ASCII, spaces and tabs.
_TRAILER = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\x20-\x7e\t]*?)[ \t]*")


class ChunkedError(ValueError):
    """The body is not well-formed ``aws-chunked`` framing."""


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
    """

    def __init__(self, max_chunk_size: int = 16 * 1024 * 1024) -> None:
        self.max_chunk_size = max_chunk_size
        self.trailers: dict[str, str] = {}
        self.signatures: list[str] = []
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
        except ChunkedError:
            self._state = _State.FAILED
            raise

    def finish(self) -> None:
        """Declare the end of the body; raise ``ChunkedError`` if it ended too early."""
        if self._state is _State.DONE:
            return
        if self._state is _State.FAILED:
            raise ChunkedError("aws-chunked body is malformed")
        if self._state is _State.TRAILER and not self._line:
            # AWS's own examples of signed trailers end with the trailer signature's CRLF and no
            # empty line, so the end of the body at a trailer line boundary also ends the trailers.
            self._state = _State.DONE
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
                out.append(view[pos : pos + take])
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._state = _State.DATA_END
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
        for extension in extensions:
            name, _, value = extension.partition(b"=")
            # Unknown chunk extensions are legal HTTP and carry nothing we need.
            if name.strip().lower() == b"chunk-signature":
                self.signatures.append(_ascii(value.strip()))
        if chunk_size:
            self._remaining = chunk_size
            self._state = _State.DATA
        else:
            self._state = _State.TRAILER

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            self._state = _State.DONE
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


def _ascii(raw: bytes) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise ChunkedError(f"non-ASCII chunk extension {_show(raw)}") from None


def _show(raw: bytes) -> str:
    """A bounded, printable rendering of client bytes for an error message."""
    return repr(raw[:64])
