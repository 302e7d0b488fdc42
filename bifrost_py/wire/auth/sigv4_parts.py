"""Reading the parts of a SigV4 request: its query, path, date, Authorization header and
credential scope, as the verifiers in auth.py need them."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote_to_bytes

from bifrost_py.wire.auth.credentials import AuthError, malformed, signature_mismatch

ALGORITHM = "AWS4-HMAC-SHA256"
# Bytes a path may carry unencoded without changing how urlsplit or the server reads it.
_PATH_SAFE = "/~-._!$&'()*+,;=:@%"
_PATH_SAFE_ONLY = re.compile("[A-Za-z0-9" + re.escape(_PATH_SAFE) + "]*")
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"


def query_pairs(raw_query: bytes) -> list[tuple[str, str]]:
    """Decoded (name, value) pairs in order; ``+`` is not a space (S3 clients encode it)."""
    if not raw_query:
        return []
    pairs = []
    for part in raw_query.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        try:
            pairs.append(
                (
                    unquote_to_bytes(name).decode("utf-8"),
                    unquote_to_bytes(value).decode("utf-8"),
                )
            )
        except UnicodeDecodeError:
            raise signature_mismatch() from None
    return pairs


def canonical_path(raw_path: bytes) -> str:
    """The raw path as a str urlsplit reads back unchanged: bytes outside the path-safe set
    (non-ASCII, ``#``, ``?``, spaces...) are percent-encoded, which changes nothing for a server
    that unquotes the path, and keeps ``/a#b`` from signing as ``/a``."""
    text = raw_path.decode("latin-1")
    if _PATH_SAFE_ONLY.fullmatch(text):
        return text or "/"
    return quote(raw_path, safe=_PATH_SAFE) or "/"


@functools.lru_cache(maxsize=256)
def parse_amz_date(value: str) -> float:
    """``20261122T071500Z`` → seconds since the epoch; ValueError if it is not a valid time.
    Cached: a busy server reads the same second from many requests."""
    if not _AMZ_DATE.fullmatch(value):
        raise ValueError(value)
    hours, minutes, seconds = int(value[9:11]), int(value[11:13]), int(value[13:15])
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(value)
    return _day_start(value[:8]) + hours * 3600 + minutes * 60 + seconds


@functools.lru_cache(maxsize=64)
def _day_start(day: str) -> float:
    """Midnight UTC of ``YYYYMMDD``, validated as a calendar date; every request of a day has it."""
    return datetime(int(day[0:4]), int(day[4:6]), int(day[6:8]), tzinfo=UTC).timestamp()


def parse_authorization(value: str) -> tuple[str, str, str]:
    """``AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..`` → its three parts."""
    rest = value[len(ALGORITHM) :]
    if not rest[:1].isspace():
        raise malformed("Unsupported Authorization Type")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, val = item.strip().partition("=")
        if not sep or name in fields:
            raise malformed("The authorization header is malformed.")
        fields[name] = val.strip()
    try:
        credential = fields["Credential"]
        signed = fields["SignedHeaders"]
        signature = fields["Signature"]
    except KeyError:
        raise malformed("The authorization header is malformed.") from None
    return credential, signed, signature


@dataclass(frozen=True)
class Scope:
    access_key_id: str
    date: str
    region: str
    service: str
    # ``date/region/service/aws4_request``, made once: a scope is read once a day per client and
    # its text is signed in every request.
    text: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", f"{self.date}/{self.region}/{self.service}/aws4_request")


def parse_credential(credential: str, refusal: AuthError) -> Scope:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts[:4]):
        raise refusal
    return Scope(*parts[:4])
