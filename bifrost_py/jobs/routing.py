"""Which provider a request is for: the x-model-provider header, or the configured default.

Every mount asks here, the same way; an unknown name is UnknownProvider, which each mount
answers in its own dialect.
"""

from __future__ import annotations

from collections.abc import Mapping

from bifrost_py.config import Config
from bifrost_py.errors import UnknownProvider

PROVIDER_HEADER = "x-model-provider"


class Routing:
    def __init__(self, config: Config) -> None:
        self.default = config.server.default_provider
        self.configured = config.configured_providers()

    def provider(self, headers: Mapping[str, str]) -> str:
        """The provider named by the request's lower-case headers."""
        provider = headers.get(PROVIDER_HEADER, "").strip().lower() or self.default
        if provider not in self.configured:
            raise UnknownProvider(f"Provider {provider!r} is not configured on this server; "
                                  f"configured providers: {', '.join(self.configured)}.")
        return provider
