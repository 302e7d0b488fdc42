"""SigV4 with the server's own AWS credentials: the bedrock provider's calls to Bedrock and S3,
and the S3 blob store's.

Signing is botocore's (SigV4Auth, S3SigV4Auth), so it is exactly what boto3 would send. The
credentials are the ones in [providers.bedrock], or else botocore's usual chain (environment,
profile, instance role), resolved off the event loop because the chain may do network I/O.
"""

from __future__ import annotations

import asyncio
import threading
from urllib.parse import quote, unquote

import botocore.session
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bifrost_py.ports.upstream import UpstreamAuth

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


class ServerCredentials:
    """The credentials a user of AWS (`owner`) signs every call with: the keys given, or else
    the chain; `where` names the settings to give them in, for the error when there are none."""

    def __init__(self, access_key_id: str, secret_access_key: str, session_token: str = "",
                 *, owner: str, where: str) -> None:
        self._static: Credentials | None = None
        if access_key_id or secret_access_key:
            self._static = Credentials(access_key_id, secret_access_key, session_token or None)
        self._owner = owner
        self._where = where
        self._chain: Credentials | None = None
        self._lock = threading.Lock()

    async def current(self) -> Credentials:
        """Credentials good for the next request (refreshable ones are frozen per request)."""
        if self._static is not None:
            return self._static
        return await asyncio.to_thread(self._from_chain)

    def _from_chain(self) -> Credentials:
        with self._lock:
            if self._chain is None:
                self._chain = botocore.session.get_session().get_credentials()
        if self._chain is None:
            raise UpstreamAuth(self._owner, f"no AWS credentials: set {self._where}, or "
                               "configure the AWS credential chain (environment, profile, "
                               "instance role)", 403)
        frozen = self._chain.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)


def sign(request: AWSRequest, credentials: Credentials, service: str, region: str) -> None:
    """Add Authorization, X-Amz-Date (and X-Amz-Security-Token) to a botocore request."""
    SigV4Auth(credentials, service, region).add_auth(request)


class _S3Auth(S3SigV4Auth):
    """S3's signer with the payload hash given, so a body can stream without being hashed."""

    def __init__(self, credentials: Credentials, region: str, payload_hash: str) -> None:
        super().__init__(credentials, "s3", region)
        self._payload_hash = payload_hash

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash


def sign_s3(method: str, endpoint: str, raw_path: str, raw_query: str,
            headers: list[tuple[str, str]], credentials: Credentials, region: str,
            payload_hash: str = UNSIGNED_PAYLOAD) -> list[tuple[str, str]]:
    """The signing headers (Authorization, X-Amz-Date, X-Amz-Content-SHA256 ...) for an S3
    request sent with `raw_path`, `raw_query` and `headers` exactly as they are.

    The signature is over the canonical forms S3 itself derives (each path segment and query
    member decoded, then URI-encoded), so a client's unusual but valid encoding still matches.
    """
    url = endpoint.rstrip("/") + _canonical_path(raw_path)
    query = _canonical_query(raw_query)
    request = AWSRequest(method=method, url=f"{url}?{query}" if query else url,
                         headers=dict(headers))
    _S3Auth(credentials, region, payload_hash).add_auth(request)
    signed = {name.lower() for name, _ in headers}
    return [(name, value) for name, value in request.headers.items()
            if name.lower() not in signed]


def _canonical_path(raw_path: str) -> str:
    return quote(unquote(raw_path), safe="/~") or "/"


def _canonical_query(raw_query: str) -> str:
    members = (pair.partition("=") for pair in raw_query.split("&") if pair)
    return "&".join(f"{quote(unquote(name), safe='~')}={quote(unquote(value), safe='~')}"
                    for name, _, value in members)
