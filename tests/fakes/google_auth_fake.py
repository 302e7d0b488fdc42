"""Google OAuth 2.0 for service accounts, as the GCS and Vertex AI fakes need it.

`TokenIssuer` makes service-account key files whose private key it generated, verifies the
signed JWT that google-auth posts to a token endpoint (`POST /token` on each fake that takes the
issuer), and hands out bearer tokens the fakes then check. `expire_all()` makes every token
handed out so far invalid, so a test can watch a client get a 401 and refresh.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import Response

Json = dict[str, Any]

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth signs every service-account assertion for this audience, whatever token_uri the key
# file names (google/oauth2/service_account.py, _GOOGLE_OAUTH2_TOKEN_ENDPOINT).
AUDIENCE = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
_MAX_ASSERTION_SECONDS = 3600  # Google refuses assertions meant to live longer than an hour
_SKEW_SECONDS = 300


@dataclass
class TokenIssuer:
    """`grants` records (client email, scope) of every token handed out through `/token`."""

    token_seconds: int = 3600
    grants: list[tuple[str, str]] = field(default_factory=list)
    _keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    _tokens: dict[str, float] = field(default_factory=dict)  # token -> when it stops working
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def service_account(self, token_uri: str, project: str = "test-project",
                        name: str | None = None) -> Json:
        """A key file (as `service_account.Credentials.from_service_account_info` takes it) for a
        new account with a fresh RSA key, whose JWTs this issuer will accept."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        email = f"{name or 'sa-' + secrets.token_hex(4)}@{project}.iam.gserviceaccount.com"
        with self._lock:
            self._keys[email] = key.public_key()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        return {"type": "service_account", "project_id": project,
                "private_key_id": secrets.token_hex(20), "private_key": pem,
                "client_email": email, "client_id": str(secrets.randbits(64)),
                "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri}

    def issue(self) -> str:
        """A valid bearer token, for tests that speak plain HTTP."""
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.time() + self.token_seconds
        return token

    def expire_all(self) -> None:
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, 0.0)

    def authenticate(self, authorization: str | None) -> str | None:
        """None when the header carries a live token, else the message Google answers 401 with:
        "Login Required" without credentials, "Invalid Credentials" with bad or expired ones."""
        if not authorization:
            return "Login Required"
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            until = self._tokens.get(token.strip())
        if scheme.lower() != "bearer" or until is None or until <= time.time():
            return "Invalid Credentials"
        return None

    async def token_endpoint(self, request: Request) -> Response:
        """`POST /token`: the JWT bearer grant of RFC 7523, answered as Google's token endpoint
        answers it."""
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != JWT_GRANT:
            return _oauth_error("unsupported_grant_type", "Invalid grant_type: "
                                + form.get("grant_type", ""))
        try:
            claims = self._verified(form.get("assertion", ""))
        except ValueError as bad:
            return _oauth_error("invalid_grant", str(bad))
        token = self.issue()
        with self._lock:
            self.grants.append((claims["iss"], str(claims.get("scope", ""))))
        return Response(json.dumps({"access_token": token, "expires_in": self.token_seconds,
                                    "token_type": "Bearer"}).encode(), 200,
                        {"Cache-Control": "no-store"}, "application/json")

    def _verified(self, assertion: str) -> Json:
        try:
            head, body, signature = (_b64(part) for part in assertion.split("."))
            header, claims = json.loads(head), json.loads(body)
        except (ValueError, binascii.Error):
            raise ValueError("Invalid JWT: not a signed JWT.") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise ValueError("Invalid JWT: not a signed JWT.")
        if header.get("alg") != "RS256":
            raise ValueError("Invalid JWT Signature.")
        with self._lock:
            key = self._keys.get(str(claims.get("iss")))
        if key is None:
            raise ValueError("Invalid grant: account not found")
        signed = assertion.rsplit(".", 1)[0].encode()
        try:
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise ValueError("Invalid JWT Signature.") from None
        if claims.get("aud") != AUDIENCE:
            raise ValueError("Invalid JWT: Failed audience check.")
        now, issued, expires = time.time(), claims.get("iat"), claims.get("exp")
        if not isinstance(issued, int) or not isinstance(expires, int):
            raise ValueError("Invalid JWT: iat and exp are required.")
        if (issued > now + _SKEW_SECONDS or expires < now - _SKEW_SECONDS
                or expires - issued > _MAX_ASSERTION_SECONDS):
            raise ValueError("Invalid JWT: Token must be a short-lived token (60 minutes) and in "
                             "a reasonable timeframe. Check your iat and exp values in the JWT "
                             "claim.")
        return claims


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _oauth_error(error: str, description: str) -> Response:
    return Response(json.dumps({"error": error, "error_description": description}).encode(), 400,
                    media_type="application/json")
