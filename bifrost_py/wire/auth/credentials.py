"""Who signs requests, and how authentication fails: the values shared by the verifiers."""

from __future__ import annotations

from dataclasses import dataclass

from bifrost_py.domain.tenancy import OPEN


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret_access_key: str
    tenant: str
    providers: tuple[str, ...] = ()  # empty: all
    models: tuple[str, ...] = ()  # shell-style globs on model ids; empty: all
    bearer_token: str = ""

    def __repr__(self) -> str:  # never print a secret
        return f"Key(access_key_id={self.access_key_id!r}, tenant={self.tenant!r})"


@dataclass(frozen=True)
class Caller:
    key: Key
    # For a header-signed request (empty otherwise): what ChunkSignatures needs to check an
    # aws-chunked STREAMING-AWS4-HMAC-SHA256-PAYLOAD body.
    seed_signature: str = ""
    amz_date: str = ""
    scope: str = ""


def tenant_of(caller: Caller | None) -> str:
    """The tenant a request acts for: its key's, or the open server's."""
    return caller.key.tenant if caller is not None else OPEN


class AuthError(Exception):
    """An authentication failure, with the code each mount's dialect answers and its status."""

    def __init__(self, code_s3: str, code_bedrock: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code_s3 = code_s3
        self.code_bedrock = code_bedrock
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"AuthError({self.code_s3!r}, {self.code_bedrock!r}, {self.message!r})"


# --- errors, one place -------------------------------------------------------------------------


def signature_mismatch() -> AuthError:
    return AuthError(
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    )


def unknown_key() -> AuthError:
    return AuthError(
        "InvalidAccessKeyId",
        "UnrecognizedClientException",
        "The AWS Access Key Id you provided does not exist in our records.",
    )


def malformed(message: str) -> AuthError:
    return AuthError("AuthorizationHeaderMalformed", "IncompleteSignatureException", message, 400)


def query_malformed(message: str) -> AuthError:
    return AuthError(
        "AuthorizationQueryParametersError", "IncompleteSignatureException", message, 400
    )


def access_denied(message: str) -> AuthError:
    return AuthError("AccessDenied", "AccessDeniedException", message)
