"""Request headers that ask S3 for a feature: each one is honoured or refused, never dropped.

A client that asks for tagging, KMS encryption, another storage class, Object Lock or a public
ACL and gets a plain 200 would believe it has what it asked for. This server stores objects in
STANDARD, private to their tenant, unencrypted at rest (the disk's own encryption applies), so
those requests are answered 501 NotImplemented, naming the header, as S3 answers what it does
not implement. What is honoured is listed in the README.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bifrost_py.errors import AccessDenied, AwsError, InvalidStorageClass, Unsupported

# Canned ACLs that change nothing for objects private to their owner.
_PRIVATE_ACLS = frozenset({"private", "bucket-owner-full-control"})
STORAGE_CLASSES = frozenset({
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
    "GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE", "FSX_OPENZFS",
})
# S3 encrypts every object with its own keys (SSE-S3) whether asked or not; AES256 asks for
# nothing more, and is recorded and answered back as S3 does.
SSE_S3 = "AES256"

# Header -> the values it may take here (a predicate); a header not listed is no feature.
_HONOURED: dict[str, Callable[[str], bool]] = {
    "x-amz-acl": lambda v: v.strip().lower() in _PRIVATE_ACLS,
    "x-amz-server-side-encryption": lambda v: v.strip() == SSE_S3,
    "x-amz-storage-class": lambda v: v.strip() == "STANDARD",
    "x-amz-bucket-object-lock-enabled": lambda v: v.strip().lower() == "false",
    "x-amz-object-ownership": lambda v: v.strip() == "BucketOwnerEnforced",
}
_REFUSED = frozenset({
    "x-amz-tagging", "x-amz-website-redirect-location", "x-amz-mfa",
    "x-amz-bypass-governance-retention", "x-amz-write-offset-bytes",
    "x-amz-server-side-encryption-aws-kms-key-id", "x-amz-server-side-encryption-context",
    "x-amz-server-side-encryption-bucket-key-enabled",
})
_REFUSED_PREFIXES = ("x-amz-grant-", "x-amz-object-lock-",
                     "x-amz-server-side-encryption-customer-",
                     "x-amz-copy-source-server-side-encryption-customer-")


def check_features(headers: Mapping[str, str], account_id: str) -> None:
    """Refuse the first header (lower-case names) that asks for what is not implemented."""
    for name, value in headers.items():
        if not name.startswith("x-amz-"):
            continue
        allowed = _HONOURED.get(name)
        if allowed is not None and not allowed(value):
            if name == "x-amz-storage-class" and value.strip() not in STORAGE_CLASSES:
                raise InvalidStorageClass(StorageClassRequested=value)
            raise _not_implemented(name, value)
        if name in _REFUSED or name.startswith(_REFUSED_PREFIXES):
            raise _not_implemented(name, value)
    expected = headers.get("x-amz-expected-bucket-owner")
    if expected is not None and expected.strip() != account_id:
        raise AccessDenied("The bucket is not owned by the expected account.")


def _not_implemented(name: str, value: str) -> AwsError:
    return Unsupported(f"A header you provided implies functionality that is not implemented "
                       f"by this server: {name}: {value[:128]}", Header=name)
