"""Who may call: the configured [[keys]] checked on every request of both mounts.

With no keys the server runs open (development) and says so at start-up.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping

from starlette.types import Scope

from bifrost_py.config import Config
from bifrost_py.errors import (
    AuthenticationError,
    AwsError,
    SlowDown,
    ThrottlingException,
    error_class,
)
from bifrost_py.wire.asgi import mount_path, raw_path
from bifrost_py.wire.auth.credentials import AuthError, Caller, Key
from bifrost_py.wire.auth.presign_v2 import is_presigned_v2, verify_presigned_v2
from bifrost_py.wire.auth.verify import allowed, authenticate, check_body_sha256


class Guard:
    def __init__(self, config: Config) -> None:
        keys = [Key(k.access_key_id, k.secret_access_key, k.tenant, tuple(k.providers),
                    tuple(k.models), k.bearer_token) for k in config.keys]
        self.keys = {k.access_key_id: k for k in keys}
        self.bearer_keys = {k.bearer_token: k for k in keys if k.bearer_token}
        self.rate = config.server.requests_per_second_per_key
        self.replicas = 1  # live replicas sharing the rate, from their heartbeats
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, when)

    def share_among(self, replicas: int) -> None:
        """Admit this replica's share of each key's rate: the load balancer spreads a key's
        requests over every live replica."""
        self.replicas = max(1, replicas)

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def caller(self, service: str, scope: Scope, headers: Mapping[str, str],
               body_sha256: str | None = None) -> Caller | None:
        """The verified caller; None when the server runs open. Raises the dialect's error."""
        if not self.enabled:
            return None
        path = raw_path(scope)
        raw_query: bytes = scope["query_string"]
        try:
            if service == "s3" and is_presigned_v2(raw_query):
                return verify_presigned_v2(scope["method"], mount_path(scope), raw_query,
                                           headers, self.keys, time.time())
            return authenticate(service, scope["method"], path, raw_query, headers,
                                body_sha256, self.keys, self.bearer_keys, time.time())
        except AuthError as failure:
            raise dialect_error(failure, service) from None

    def api_key(self, headers: Mapping[str, str]) -> Caller | None:
        """The caller whose API key is in `Authorization: Bearer` (the OpenAI dialect's only
        form); None when the server runs open."""
        if not self.enabled:
            return None
        authorization = headers.get("authorization", "")
        token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        if not token:
            raise AuthenticationError()
        key = self.bearer_keys.get(token)
        if key is None or not hmac.compare_digest(key.bearer_token.encode(), token.encode()):
            raise AuthenticationError(f"Incorrect API key provided: {_masked(token)}.",
                                      code="invalid_api_key")
        return Caller(key)

    def throttle(self, caller: Caller | None, service: str) -> None:
        """A token bucket per key: `rate` a second, bursts of twice that, shared out among the
        live replicas."""
        if caller is None or self.rate <= 0:
            return
        rate = self.rate / self.replicas
        now = time.monotonic()
        tokens, then = self._buckets.get(caller.key.access_key_id, (2 * rate, now))
        tokens = min(2 * rate, tokens + (now - then) * rate)
        if tokens < 1:
            self._buckets[caller.key.access_key_id] = (tokens, now)
            if service == "s3":
                raise SlowDown()
            raise ThrottlingException("Too many requests for this access key; retry later.")
        self._buckets[caller.key.access_key_id] = (tokens - 1, now)


def _masked(token: str) -> str:
    """How OpenAI quotes a wrong key: its ends only."""
    return f"{token[:3]}***{token[-4:]}" if len(token) > 10 else "***"


def permit(caller: Caller | None, service: str, provider: str,
           model_id: str | None = None) -> None:
    """A key limited to some providers or models may use only those."""
    if caller is None or allowed(caller, provider, model_id):
        return
    what = f"model {model_id} on provider {provider}" if model_id else f"provider {provider}"
    code = "AccessDenied" if service == "s3" else "AccessDeniedException"
    raise error_class(code, 403)(f"The access key {caller.key.access_key_id} may not use {what}.")


def verify_body(caller: Caller | None, service: str, headers: Mapping[str, str],
                body_sha256: str) -> None:
    """A body whose SHA-256 differs from the signed x-amz-content-sha256 was tampered with."""
    if caller is None:
        return
    try:
        check_body_sha256(service, headers, body_sha256)
    except AuthError as failure:
        raise dialect_error(failure, service) from None


def dialect_error(failure: AuthError, service: str) -> AwsError:
    code = failure.code_s3 if service == "s3" else failure.code_bedrock
    return error_class(code, failure.status)(failure.message)
