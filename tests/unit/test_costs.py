"""Prices by model id or pattern, a job's cost, and the webhook signature."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bifrost_py.domain.costs import Price, cost, price_of
from bifrost_py.notify.signature import signature

PRICES = {"anthropic.claude-3-haiku-20240307-v1:0": Price(0.125, 0.625),
          "anthropic.*": Price(1.5, 7.5), "gpt-4o*": Price(1.25, 5.0)}


@pytest.mark.parametrize(("model", "price"), [
    ("anthropic.claude-3-haiku-20240307-v1:0", Price(0.125, 0.625)),
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", Price(1.5, 7.5)),
    ("gpt-4o-mini", Price(1.25, 5.0)),
    ("gemini-2.5-flash", None),
])
def test_an_exact_entry_wins_then_the_first_pattern(model: str, price: Price | None) -> None:
    assert price_of(model, PRICES) == price


def test_cost_is_tokens_times_the_price_per_million() -> None:
    assert cost(2_000_000, 500_000, Price(1.5, 7.5)) == 3.0 + 3.75
    assert cost(0, 0, Price(1.5, 7.5)) == 0
    assert cost(123, 45, Price(0.125, 0.625)) == pytest.approx((123 * 0.125 + 45 * 0.625) / 1e6)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"detail":{}}'
    expected = hmac.new(b"secret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("secret", 1700000000, body) == f"sha256={expected}"
    assert signature("other", 1700000000, body) != signature("secret", 1700000000, body)
