"""What a job cost: its token counts times the batch prices configured for its model."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    """Batch prices in US dollars per million tokens."""

    input: float
    output: float


def price_of(model_id: str, prices: Mapping[str, Price]) -> Price | None:
    """The price of `model_id`: its own entry, else the first shell-style pattern it matches."""
    if model_id in prices:
        return prices[model_id]
    return next((p for pattern, p in prices.items() if fnmatch.fnmatchcase(model_id, pattern)),
                None)


def cost(input_tokens: int, output_tokens: int, price: Price) -> float:
    """Dollars, to a millionth of a cent (float sums of many jobs stay readable)."""
    return round((input_tokens * price.input + output_tokens * price.output) / 1e6, 8)
