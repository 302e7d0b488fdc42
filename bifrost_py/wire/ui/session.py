"""The dashboard's session cookie: who logged in and until when, signed with HMAC-SHA256.

The value is `<payload>.<signature>`, both base64url; the payload holds the identity and the
expiry, so a copied cookie dies on time and an edited one fails its signature. It never holds
the token that was presented at login.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import orjson

COOKIE = "bifrost_ui"
LIFETIME = 12 * 3600  # seconds a login lasts


class Sessions:
    def __init__(self, secret: bytes, lifetime: int = LIFETIME) -> None:
        self.secret = secret
        self.lifetime = lifetime

    def issue(self, who: str, now: float) -> str:
        payload = _b64(orjson.dumps({"who": who, "exp": int(now) + self.lifetime}))
        return f"{payload}.{self._sign(payload)}"

    def read(self, value: str, now: float) -> str | None:
        """The identity in a cookie that is signed by us and not expired; else None."""
        payload, _, signature = value.partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            fields = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            who, expires = fields["who"], fields["exp"]
        except (binascii.Error, ValueError, TypeError, KeyError):
            return None
        if not isinstance(who, str) or not isinstance(expires, int) or expires <= now:
            return None
        return who

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, payload.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
