"""The model backend the local engine sends a model's records to, by its settings."""

from __future__ import annotations

from bifrost_py.config import BackendSettings
from bifrost_py.ports.backends import Backend
from bifrost_py.providers.local.echo import EchoBackend
from bifrost_py.providers.local.openai_compatible import OpenAICompatibleBackend


def make_backend(settings: BackendSettings) -> Backend:
    if settings.backend == "openai-compatible":
        return OpenAICompatibleBackend(settings.base_url, settings.api_key,
                                       settings.model or None, settings.timeout_seconds,
                                       settings.max_retries)
    return EchoBackend(settings.latency_ms)
