"""Query parameters of the list operations, checked as OpenAI checks them."""

from __future__ import annotations

from bifrost_py.domain.digits import decimal
from bifrost_py.errors import InvalidRequestError


def query_int(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    if not decimal(value, 9) or not low <= int(value) <= high:
        raise InvalidRequestError(f"Invalid '{name}': expected an integer from {low} to {high}, "
                                  f"got {value!r}.", param=name)
    return int(value)


def query_order(query: dict[str, str]) -> str:
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequestError(f"Invalid 'order': expected asc or desc, got {order!r}.",
                                  param="order")
    return order
