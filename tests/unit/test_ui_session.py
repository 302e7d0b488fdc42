"""The dashboard's session cookie: it names who logged in until it expires, and nothing forged,
edited or signed with another secret passes."""

from __future__ import annotations

import base64

from bifrost_py.wire.ui.session import Sessions

NOW = 1_800_000_000.0


def test_a_session_names_who_logged_in_until_it_expires() -> None:
    sessions = Sessions(b"k" * 32, lifetime=60)
    cookie = sessions.issue("key:AKIA1", NOW)
    assert sessions.read(cookie, NOW + 59) == "key:AKIA1"
    assert sessions.read(cookie, NOW + 60) is None


def test_a_cookie_signed_with_another_secret_is_refused() -> None:
    cookie = Sessions(b"a" * 32).issue("operator", NOW)
    assert Sessions(b"b" * 32).read(cookie, NOW) is None


def test_an_edited_expiry_breaks_the_signature() -> None:
    sessions = Sessions(b"k" * 32, lifetime=60)
    payload, signature = sessions.issue("key:AKIA1", NOW).split(".")
    later = base64.urlsafe_b64encode(b'{"who":"key:AKIA1","exp":9999999999}').rstrip(b"=")
    assert sessions.read(f"{later.decode()}.{signature}", NOW) is None
    assert sessions.read(payload, NOW) is None


def test_garbage_is_no_session() -> None:
    sessions = Sessions(b"k" * 32)
    for value in ("", ".", "abc", "a.b.c", "!!!.???"):
        assert sessions.read(value, NOW) is None
