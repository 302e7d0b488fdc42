"""Which provider a request is for: the x-model-provider header, or the configured default."""

from __future__ import annotations

from collections.abc import Mapping

from bifrost_py.config import Config
from bifrost_py.errors import AwsError

PROVIDER_HEADER = "x-model-provider"


def provider_of(headers: Mapping[str, str], config: Config, error: type[AwsError]) -> str:
    """The provider named by the request; `error` (the mount's dialect) if not configured."""
    provider = headers.get(PROVIDER_HEADER, "").strip().lower()
    provider = provider or config.server.default_provider
    configured = config.configured_providers()
    if provider not in configured:
        raise error(f"Provider {provider!r} is not configured on this server; configured "
                    f"providers: {', '.join(configured)}.")
    return provider
