"""Google credentials for Vertex AI and Cloud Storage: a service-account key file, or application
default credentials, refreshed off the event loop when their token runs out."""

from __future__ import annotations

import asyncio

import google.auth
from google.auth import exceptions
from google.auth.credentials import Credentials
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from bifrost_py.config import VertexConfig
from bifrost_py.ports.upstream import UpstreamAuth, UpstreamUnavailable

PROVIDER = "vertex"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def load_credentials(settings: VertexConfig) -> Credentials:
    """The key file's service account, or application default credentials; UpstreamAuth when
    there are none, so a job fails with a message that says so instead of the server failing
    to start."""
    try:
        if settings.credentials_file:
            found: Credentials = service_account.Credentials.from_service_account_file(
                settings.credentials_file, scopes=SCOPES)
            return found
        credentials, _ = google.auth.default(scopes=SCOPES)
        return credentials
    except (OSError, ValueError, exceptions.GoogleAuthError) as exc:
        where = (f"the key file {settings.credentials_file}" if settings.credentials_file
                 else "application default credentials")
        raise UpstreamAuth(PROVIDER, f"no usable Google credentials in {where} ({exc})",
                           401) from None


class Tokens:
    """An OAuth access token for the calls of one provider instance."""

    def __init__(self, settings: VertexConfig) -> None:
        self.settings = settings
        self._credentials: Credentials | None = None
        self._lock = asyncio.Lock()

    @property
    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = load_credentials(self.settings)
        return self._credentials

    async def header(self, renew: bool = False) -> dict[str, str]:
        """`Authorization: Bearer ...`, renewed first when it has expired or `renew` says the
        last one was refused."""
        async with self._lock:
            credentials = self.credentials
            if renew or not credentials.valid:
                await asyncio.to_thread(_refresh, credentials)
            return {"Authorization": f"Bearer {credentials.token}"}


def _refresh(credentials: Credentials) -> None:
    try:
        credentials.refresh(Request())
    except exceptions.TransportError as exc:
        raise UpstreamUnavailable(PROVIDER, f"cannot reach Google's token endpoint ({exc})") \
            from None
    except exceptions.RefreshError as exc:
        raise UpstreamAuth(PROVIDER, f"Google refused the server's credentials ({exc})",
                           401) from None
