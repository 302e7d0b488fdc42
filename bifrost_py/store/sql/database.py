"""What the store's SQL needs of a database, whichever it is.

The store's logic is written once over these: a write transaction is a plain function given a
connection (`Database.transaction`), run whole on the database's side of the event loop, so no
other coroutine's statement interleaves with it and a database that must retry it (PostgreSQL on
a serialization failure) can simply call it again. Rows are read by column name. The few
differences between databases' SQL live in one `Dialect` each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

Params = Sequence[Any] | Mapping[str, Any]
T = TypeVar("T")


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """A connection inside a write transaction; `?` marks a parameter on every database."""

    def execute(self, sql: str, parameters: Params = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Params], /) -> Cursor: ...


@dataclass(frozen=True)
class Dialect:
    """The SQL that differs between databases; everything else is written once."""

    name: str
    # What the driver raises when a unique or foreign key constraint refuses a row.
    integrity_errors: tuple[type[Exception], ...]
    # One `blob` column: every blob an object's segments, an S3 part or an OpenAI part holds.
    referenced_blobs: str
    # An assignment recording, in the JSON text column `events`, when a job first had a status;
    # its two parameters are `event_key(status)` and the time.
    record_event: str
    event_key: Callable[[str], str]
    # A condition true when the column's value contains the parameter.
    contains: Callable[[str], str]
    # Ends a SELECT of rows to claim: where rows lock, those another transaction holds are
    # passed over rather than waited for.
    skip_locked: str
    # The whole part of a positive number: SQLite's CAST truncates, PostgreSQL's rounds.
    whole: Callable[[str], str]


class Database(Protocol):
    dialect: Dialect

    @property
    def is_open(self) -> bool: ...

    async def open(self) -> None:
        """Connect and apply the migrations the database has not seen yet."""

    async def open_readonly(self) -> None:
        """Connect for reads only; a database of another schema version is refused."""

    async def close(self) -> None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> Iterable[Any]:
        """Committed rows, outside any write transaction."""

    async def fetchone(self, sql: str, params: Params = ()) -> Any | None: ...

    async def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run `work` as one write transaction and return what it returns. It may be run more
        than once, so it changes nothing but the database (and caches it may safely repeat)."""
