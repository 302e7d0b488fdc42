"""The parts of a SigV4 request, read as AWS reads them."""

from __future__ import annotations

import calendar
import time

import pytest

from bifrost_py.wire.auth.credentials import AuthError
from bifrost_py.wire.auth.sigv4_parts import parse_amz_date, parse_authorization


@pytest.mark.parametrize("value", ["20260102T030405Z", "20240229T235959Z", "19700101T000000Z",
                                   "20261231T000000Z"])
def test_amz_dates_read_as_the_seconds_strptime_gives(value: str) -> None:
    expected = calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ"))
    assert parse_amz_date(value) == expected


@pytest.mark.parametrize("value", ["20260102T240000Z", "20260102T006000Z", "20260102T000060Z",
                                   "20261301T000000Z", "20250229T000000Z", "20260100T000000Z",
                                   "2026-01-02T030405Z", "20260102T030405", "\u0662" * 8 + "T"
                                   + "0" * 6 + "Z", ""])
def test_impossible_amz_dates_are_value_errors(value: str) -> None:
    with pytest.raises(ValueError):
        parse_amz_date(value)


def test_an_authorization_header_reads_as_its_three_parts() -> None:
    header = ("AWS4-HMAC-SHA256 Credential=AKIA/20260102/us-east-1/s3/aws4_request, "
              "SignedHeaders=host;x-amz-date, Signature=" + "a" * 64)
    assert parse_authorization(header) == ("AKIA/20260102/us-east-1/s3/aws4_request",
                                           "host;x-amz-date", "a" * 64)


@pytest.mark.parametrize("header", ["AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256x Credential=a",
                                    "AWS4-HMAC-SHA256 Credential=a, SignedHeaders=host",
                                    "AWS4-HMAC-SHA256 Credential=a, Credential=b, "
                                    "SignedHeaders=host, Signature=c"])
def test_malformed_authorization_headers_are_refused(header: str) -> None:
    with pytest.raises(AuthError):
        parse_authorization(header)
