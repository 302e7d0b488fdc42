"""multipart/form-data bodies read as they stream: the small fields are kept, the one file field's
bytes are handed on chunk by chunk as they arrive, so a gigabyte upload is never held whole."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from bifrost_py.errors import InvalidRequestError

if TYPE_CHECKING:  # the TypedDict exists for type checkers only
    from python_multipart.multipart import MultipartCallbacks

T = TypeVar("T")
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None  # of the file field; None when the form had none
    content_type: str | None = None


async def read_form(request: Request, file_field: str,
                    sink: Callable[[AsyncIterator[bytes]], Awaitable[T]]) -> tuple[Form, T]:
    """The form's fields, and what `sink` made of the bytes of its `file_field` (it is given
    the empty stream when there is no such field)."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidRequestError("The body must be multipart/form-data with a boundary.")
    reader = _Reader(file_field)
    parser = MultipartParser(boundary, reader.callbacks())
    result = await sink(reader.file_bytes(request, parser))
    return reader.form, result


class _Reader:
    """Collects what the push parser reports; file bytes wait in `pending` to be yielded."""

    def __init__(self, file_field: str) -> None:
        self.file_field = file_field
        self.form = Form()
        self.pending: list[bytes] = []
        self._headers: dict[bytes, bytes] = {}
        self._header: list[bytes] = [b"", b""]
        self._name: str | None = None
        self._value = bytearray()
        self._in_file = False

    def callbacks(self) -> MultipartCallbacks:
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._data,
                "on_part_end": self._end}

    async def file_bytes(self, request: Request, parser: MultipartParser,
                         ) -> AsyncIterator[bytes]:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
                while self.pending:
                    yield self.pending.pop(0)
            parser.finalize()
        except MultipartParseError as exc:
            raise InvalidRequestError(f"The multipart body is malformed: {exc}") from None
        except ClientDisconnect:
            raise InvalidRequestError("The upload was cut off before its end.") from None
        while self.pending:
            yield self.pending.pop(0)

    def _begin(self) -> None:
        self._headers, self._name, self._in_file = {}, None, False
        self._value = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header[0] += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._header[1] += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header[0].strip().lower()] = self._header[1].strip()
        self._header = [b"", b""]

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        self._name = name
        if name == self.file_field and b"filename" in options:
            if self.form.filename is not None:
                raise InvalidRequestError(f"The form has more than one {name} field.")
            self._in_file = True
            self.form.filename = options[b"filename"].decode("utf-8", "replace")
            self.form.content_type = self._headers.get(b"content-type", b"").decode("latin-1")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.pending.append(data[start:end])
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise InvalidRequestError(f"The form field {self._name} is too large.")

    def _end(self) -> None:
        if self._in_file or self._name is None:
            return
        if len(self.form.fields) >= MAX_FIELDS:
            raise InvalidRequestError("The form has too many fields.")
        self.form.fields[self._name] = self._value.decode("utf-8", "replace")
