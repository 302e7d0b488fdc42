"""What every mount reads off an ASGI scope the same way: raw paths, headers, request ids.

The app mounts each dialect on a path prefix and records the prefix as the scope's `root_path`
(ASGI's mount point), so a mount finds its own part of the path without knowing where it sits.
"""

from __future__ import annotations

import secrets

from starlette.types import Scope

RawHeaders = list[tuple[bytes, bytes]]


def raw_path(scope: Scope) -> bytes:
    """The whole path as the client sent it, still percent-encoded, without the query."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    return raw.split(b"?", 1)[0]


def mount_path(scope: Scope) -> bytes:
    """The raw path after the mount point: `/bucket/key` on the S3 mount."""
    return raw_path(scope).removeprefix(scope.get("root_path", "").encode("latin-1"))


def header_dict(scope: Scope) -> dict[str, str]:
    """Lower-case names to values, read once: Starlette's Headers scans its list per lookup.
    A header sent more than once is one value, its values joined with "," (RFC 9110), which is
    also what a SigV4 signature covers."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def header(raw_headers: RawHeaders, name: str) -> str:
    """The first value of a header, by lower-case name; "" when absent."""
    wanted = name.encode("latin-1")
    return next((value.decode("latin-1") for key, value in raw_headers
                 if key.lower() == wanted), "")


def new_request_id() -> str:
    return secrets.token_hex(8).upper()
