"""Who is looking at the dashboard, from the token they logged in with.

A key's bearer token shows its tenant's jobs; an operator's `server.metrics_token` shows every
tenant's, as /metrics does. On a server without [[keys]] everyone sees everything.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from bifrost_py.domain.jobs import Job
from bifrost_py.wire.auth.credentials import Caller, Key
from bifrost_py.wire.auth.guard import Guard

OPERATOR = "operator"
_KEY = "key:"


@dataclass(frozen=True)
class Viewer:
    tenant: str | None  # None: every tenant's jobs
    label: str  # who the page says is logged in
    caller: Caller | None = None  # what the access log records
    logged_in: bool = True  # False on an open server, which has no login

    def may_see(self, job: Job) -> bool:
        return self.tenant is None or job.tenant == self.tenant


OPEN_VIEWER = Viewer(None, "open server", logged_in=False)


class Identities:
    def __init__(self, guard: Guard, metrics_token: str) -> None:
        self.keys = guard.keys
        self.bearer_keys = guard.bearer_keys
        self.metrics_token = metrics_token

    @property
    def open(self) -> bool:
        return not self.keys

    def who(self, token: str) -> str | None:
        """The identity a login token proves (kept in the session, never the token)."""
        key = self.bearer_keys.get(token)
        if key is not None and hmac.compare_digest(key.bearer_token.encode(), token.encode()):
            return _KEY + key.access_key_id
        if self.metrics_token and hmac.compare_digest(self.metrics_token.encode(),
                                                      token.encode()):
            return OPERATOR
        return None

    def viewer(self, who: str) -> Viewer | None:
        """The viewer a session names; None when its key is no longer configured."""
        if who == OPERATOR:
            return Viewer(None, "operator: every tenant") if self.metrics_token else None
        key: Key | None = self.keys.get(who.removeprefix(_KEY)) if who.startswith(_KEY) else None
        if key is None or not key.bearer_token:
            return None
        return Viewer(key.tenant, f"tenant {key.tenant}", Caller(key))

    def secret(self) -> bytes:
        """The key sessions are signed with, made from the configured secrets: every replica
        with the same config accepts a session, it survives a restart, and it ends when those
        secrets change."""
        material = sorted(f"{k.access_key_id}\0{k.secret_access_key}\0{k.bearer_token}"
                          for k in self.keys.values())
        material.append(self.metrics_token)
        return hmac.new(b"bifrost_py dashboard sessions", "\n".join(material).encode(),
                        hashlib.sha256).digest()
