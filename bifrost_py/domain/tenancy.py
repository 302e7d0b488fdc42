"""Tenants: every bucket and job belongs to the tenant of the key that created it.

A tenant's buckets are stored under `<tenant>/<name>`. No bucket name holds a `/`, so the stored
names of two tenants never meet, and a lookup with another tenant's qualified name finds nothing:
isolation holds in every store query without a tenant clause. The open server (no keys) is the
tenant "", whose names are stored as they are.
"""

from __future__ import annotations

import re

OPEN = ""
SEPARATOR = "/"
# Buckets the server keeps for itself: no S3 bucket name starts with "_", so no S3 client can
# create, name or list them. The OpenAI dialect's files are objects of FILES_BUCKET.
RESERVED_PREFIX = "_"
FILES_BUCKET = "_files"
# Tenant names appear in stored names and in logs: plain words only.
TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def stored_bucket(tenant: str, bucket: str) -> str:
    """The name a tenant's bucket has in the store."""
    return f"{tenant}{SEPARATOR}{bucket}" if tenant else bucket


def reserved(bucket: str) -> bool:
    """A bucket name the server keeps for itself (shown or stored form)."""
    return shown_bucket(bucket).startswith(RESERVED_PREFIX)


def bucket_tenant(stored: str) -> str:
    return stored.rpartition(SEPARATOR)[0]


def shown_bucket(stored: str) -> str:
    """The bucket name its own tenant sees."""
    return stored.rpartition(SEPARATOR)[2]


def stored_token(tenant: str, token: str | None) -> str | None:
    """A clientRequestToken is unique per tenant: two tenants may use the same one."""
    if token is None or not tenant:
        return token
    return f"{tenant}{SEPARATOR}{token}"


def shown_token(stored: str | None) -> str | None:
    return stored.rpartition(SEPARATOR)[2] if stored is not None else None
