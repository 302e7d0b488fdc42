"""What a well-typed config must also satisfy before the server starts with it."""

from __future__ import annotations

import re

from bifrost_py.config.tables import (
    BACKENDS,
    AzureConfig,
    Config,
    ConfigError,
    LocalConfig,
    VertexConfig,
    WebhookConfig,
)
from bifrost_py.domain.job_events import EVENT_NAMES
from bifrost_py.domain.tenancy import TENANT_NAME


def check(config: Config) -> None:
    """Refuse settings that are well-typed but cannot work, naming the key."""
    server = config.server
    if not 0 < server.port < 65536:
        raise ConfigError(f"server.port: {server.port} is not a TCP port")
    if server.default_provider not in config.configured_providers():
        raise ConfigError(f"server.default_provider: provider {server.default_provider!r} has no "
                          f"[providers.{server.default_provider}] table")
    if not re.fullmatch(r"\d{12}", server.account_id):
        raise ConfigError("server.account_id: expected 12 digits")
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", server.region):
        raise ConfigError(f"server.region: {server.region!r} is not an AWS region name")
    for name, instance in config.providers.instances.items():
        if isinstance(instance, LocalConfig):
            _check_local(name, instance)
        if isinstance(instance, VertexConfig):
            _check_vertex(name, instance)
        if isinstance(instance, AzureConfig) and not instance.base_url:
            raise ConfigError(f"providers.{name}.base_url: an Azure OpenAI instance needs its "
                              "resource endpoint (https://<resource>.openai.azure.com)")
    _check_keys(config)
    _check_store(config)
    _check_webhooks(config.webhooks)
    for model, price in config.prices.items():
        if price.input < 0 or price.output < 0:
            raise ConfigError(f"prices.{model}: prices are dollars per million tokens, not "
                              "negative")
    if server.requests_per_second_per_key < 0:
        raise ConfigError("server.requests_per_second_per_key: expected 0 (no limit) or more")
    for name in ("max_jobs_in_flight_per_tenant", "max_records_per_job"):
        if getattr(server, name) < 0:
            raise ConfigError(f"server.{name}: expected 0 (no limit) or more")
    if server.log_level.lower() not in ("critical", "error", "warning", "info", "debug"):
        raise ConfigError(f"server.log_level: {server.log_level!r} is not a log level")


def _check_keys(config: Config) -> None:
    seen: set[str] = set()
    for n, key in enumerate(config.keys):
        where = f"keys[{n}]"
        if not re.fullmatch(r"[A-Z0-9]{16,128}", key.access_key_id):
            raise ConfigError(f"{where}.access_key_id: expected 16 to 128 upper-case letters "
                              "and digits")
        if not key.secret_access_key or not key.tenant:
            raise ConfigError(f"{where}: secret_access_key and tenant are required")
        if not TENANT_NAME.match(key.tenant):
            raise ConfigError(f"{where}.tenant: expected 1 to 63 letters, digits, '.', '_' or "
                              "'-', starting with a letter or digit")
        if key.access_key_id in seen:
            raise ConfigError(f"{where}.access_key_id: {key.access_key_id} appears twice")
        seen.add(key.access_key_id)
        unknown = [p for p in key.providers if p not in config.configured_providers()]
        if unknown:
            raise ConfigError(f"{where}.providers: {unknown[0]!r} is not a configured provider "
                              f"({', '.join(config.configured_providers())})")


def _check_webhooks(webhooks: list[WebhookConfig]) -> None:
    for n, hook in enumerate(webhooks):
        where = f"webhooks[{n}]"
        if not re.match(r"https?://[^/\s]+", hook.url):
            raise ConfigError(f"{where}.url: expected an http:// or https:// URL")
        if not hook.secret:
            raise ConfigError(f"{where}.secret: required, to sign each delivery")
        unknown = [e for e in hook.events if e not in EVENT_NAMES.values()]
        if unknown or not hook.events:
            raise ConfigError(f"{where}.events: expected some of "
                              f"{', '.join(EVENT_NAMES.values())}")


def _check_vertex(name: str, vertex: VertexConfig) -> None:
    if not vertex.project:
        raise ConfigError(f"providers.{name}.project: the Google Cloud project is required")
    if not re.fullmatch(r"gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?", vertex.staging_uri):
        raise ConfigError(f"providers.{name}.staging_uri: expected gs://bucket/prefix/, where "
                          "batch inputs are staged and Vertex AI writes its outputs")


def _check_local(instance: str, local: LocalConfig) -> None:
    for name in ["", *local.models]:
        where = f"providers.{instance}." + (f"models.{name}." if name else "")
        settings = local.settings(name)
        if settings.backend not in BACKENDS:
            raise ConfigError(f"{where}backend: {settings.backend!r} is not one of "
                              f"{', '.join(BACKENDS)}")
        if not 1 <= settings.concurrency <= 1024:
            raise ConfigError(f"{where}concurrency: expected 1 to 1024")
        if settings.latency_ms < 0 or settings.timeout_seconds <= 0 or settings.max_retries < 0:
            raise ConfigError(f"{where}latency_ms, timeout_seconds, max_retries: out of range")
    if local.max_concurrent_jobs < 1:
        raise ConfigError(f"providers.{instance}.max_concurrent_jobs: expected at least 1")



def _check_store(config: Config) -> None:
    store = config.store
    if store.database_url and not re.match(r"postgres(ql)?://", store.database_url):
        raise ConfigError("store.database_url: expected a postgresql:// URL (absent: SQLite "
                          "under server.data_dir)")
    if store.blobs and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?",
                                        store.blobs):
        raise ConfigError("store.blobs: expected s3://bucket/prefix/ (absent: files under "
                          "server.data_dir)")
    if config.server.job_lease_seconds < 3:
        raise ConfigError("server.job_lease_seconds: expected at least 3 (leases are renewed "
                          "every third of it)")
    if config.server.replica_id and not re.fullmatch(r"[\w.:-]{1,128}",
                                                     config.server.replica_id):
        raise ConfigError("server.replica_id: expected 1 to 128 letters, digits, '.', ':', '_' "
                          "or '-'")
