"""Range header parsing with S3's rules: ignore what is malformed, 416 what is unsatisfiable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.wire.s3.ranges import RangeNotSatisfiable, content_range, parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=0-9", 10, (0, 9)),
        ("bytes=2-5", 10, (2, 5)),
        ("bytes=9-9", 10, (9, 9)),
        ("bytes=5-100", 10, (5, 9)),  # the end is clamped to the last byte
        ("bytes=0-", 10, (0, 9)),
        ("bytes=7-", 10, (7, 9)),
        ("bytes=-1", 10, (9, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-10", 10, (0, 9)),
        ("bytes=-11", 10, (0, 9)),  # a suffix longer than the object is the whole object
        ("bytes=007-008", 10, (7, 8)),
        ("BYTES=1-2", 10, (1, 2)),  # range units compare case-insensitively
        (" bytes=1-2 ", 10, (1, 2)),
        ("bytes=0-" + "9" * 30, 10, (0, 9)),
        ("bytes=-" + "9" * 30, 10, (0, 9)),
    ],
)
def test_satisfiable(header: str, size: int, expected: tuple[int, int]) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes=",
        "bytes=-",
        "bytes=5-2",  # first byte after last byte
        "bytes=1-2,4-5",  # several ranges: S3 serves the whole object
        "bytes=1-2,",
        "bytes=a-b",
        "bytes=1-b",
        "bytes=+1-2",
        "bytes=1 -2",
        "bytes=1-2-3",
        "bytes=--1",
        "bytes=\u0661-\u0662",  # Arabic-Indic digits, which int() would accept
        "bytes=1_0-20",
        "items=0-1",
        "bytes 0-1",
        "0-1",
        "garbage",
        "bytes=" + "9" * 30 + "-1",  # start after end, however large
        "bytes=0-" + "9" * 5000,  # absurdly long: ignored, and no int() digit-limit crash
    ],
)
def test_ignored(header: str | None) -> None:
    assert parse_range(header, 10) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=10-", 10),
        ("bytes=10-20", 10),
        ("bytes=11-12", 10),
        ("bytes=-0", 10),
        ("bytes=0-0", 0),  # any range of an empty object
        ("bytes=0-", 0),
        ("bytes=-5", 0),
        ("bytes=" + "9" * 30 + "-", 10),
        ("bytes=" + "9" * 30 + "-" + "9" * 31, 10),
    ],
)
def test_not_satisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_not_satisfiable_is_a_value_error() -> None:
    assert issubclass(RangeNotSatisfiable, ValueError)


def test_content_range() -> None:
    assert content_range(0, 9, 10) == "bytes 0-9/10"
    assert content_range(5, 5, 6) == "bytes 5-5/6"


@given(header=st.text(max_size=40), size=st.integers(0, 1000))
def test_never_crashes_and_stays_inside(header: str, size: int) -> None:
    try:
        result = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    if result is not None:
        start, end = result
        assert 0 <= start <= end < size


@given(
    start=st.integers(0, 2000),
    end=st.one_of(st.none(), st.integers(0, 2000)),
    size=st.integers(0, 1000),
)
def test_matches_slicing(start: int, end: int | None, size: int) -> None:
    header = f"bytes={start}-{'' if end is None else end}"
    data = bytes(range(256)) * 4
    data = data[:size]
    if end is not None and start > end:
        assert parse_range(header, size) is None
    elif start >= size:
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, size)
    else:
        result = parse_range(header, size)
        assert result is not None
        first, last = result
        stop = None if end is None else end + 1
        assert data[first : last + 1] == data[start:stop]
