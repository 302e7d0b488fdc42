"""Numbers in headers, queries and documents, read as AWS reads them."""

from __future__ import annotations


def decimal(value: str, max_digits: int = 19) -> bool:
    """Only ASCII digits, and few enough for an int64: str.isdigit() also takes '²' and '٣',
    which int() refuses or reads, and int() refuses a string of thousands of digits."""
    return 0 < len(value) <= max_digits and value.isascii() and value.isdigit()
