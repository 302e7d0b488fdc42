"""config.toml -> frozen dataclasses.

Every table is a dataclass; its fields are the only keys it accepts, so an unknown or mistyped key
stops start-up with a message that names it. String values may be `${ENV_VAR}` references.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bifrost_py.domain.costs import Price
from bifrost_py.domain.digits import decimal
from bifrost_py.domain.job_events import EVENT_NAMES
from bifrost_py.domain.tenancy import TENANT_NAME

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
BACKENDS = ("echo", "openai-compatible")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the offending key."""


class ByteSize(int):
    """A size given as an integer or a string such as "5GiB" or "100 MB"."""


FIVE_GIB = ByteSize(5 * 2**30)


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = "./data"
    default_provider: str = "local"
    region: str = "us-west-2"
    account_id: str = "123456789012"
    log_level: str = "info"
    # fsync every stored object before it becomes visible: durable across power loss, slower.
    fsync: bool = False
    # With [[keys]]: requests a second each key may make (bursts of twice that); 0: no limit.
    requests_per_second_per_key: float = 1000.0
    # Submitted, validating, scheduled, in-progress or stopping jobs a tenant may have; 0: no
    # limit. A tenant at the limit gets ServiceQuotaExceededException, as on AWS.
    max_jobs_in_flight_per_tenant: int = 100
    # Records a job's input may hold (AWS's default quota); a larger input fails the job.
    max_records_per_job: int = 50_000
    # Bearer token a Prometheus scraper presents on /metrics; with [[keys]] and none, /metrics
    # is closed.
    metrics_token: str = ""


@dataclass(frozen=True)
class ModelConfig:
    """Per-model overrides of the local backend settings; None inherits [providers.local]."""

    backend: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None
    concurrency: int | None = None
    latency_ms: float | None = None
    timeout_seconds: float | None = None
    max_retries: int | None = None


@dataclass(frozen=True)
class BackendSettings:
    """The resolved settings the local executor uses for one model id."""

    backend: str
    base_url: str
    api_key: str
    model: str  # the name sent to an openai-compatible endpoint; "" sends the Bedrock model id
    concurrency: int
    latency_ms: float
    timeout_seconds: float
    max_retries: int


@dataclass(frozen=True)
class ProviderConfig:
    """What every [providers.NAME] table shares: the kind of adapter it configures."""

    kind: str = ""  # absent: the table's own name


@dataclass(frozen=True)
class LocalConfig(ProviderConfig):
    auto_create_buckets: bool = True
    max_object_size: ByteSize = FIVE_GIB
    backend: str = "echo"
    base_url: str = "http://127.0.0.1:11434/v1"
    api_key: str = ""
    model: str = ""
    concurrency: int = 16
    latency_ms: float = 0.0
    timeout_seconds: float = 120.0
    max_retries: int = 6
    max_concurrent_jobs: int = 4
    models: dict[str, ModelConfig] = field(default_factory=dict)

    def settings(self, model_id: str) -> BackendSettings:
        """This config with the overrides of the first [models] entry matching `model_id`
        (exact name first, then shell-style patterns such as "anthropic.*")."""
        override = self.models.get(model_id) or next(
            (m for pattern, m in self.models.items() if fnmatch.fnmatchcase(model_id, pattern)),
            ModelConfig())
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(BackendSettings)}
        values.update({k: v for k, v in dataclasses.asdict(override).items() if v is not None})
        return BackendSettings(**values)


@dataclass(frozen=True)
class RemoteConfig(ProviderConfig):
    """What every provider with its own batch API shares."""

    poll_interval: float = 30.0     # seconds between status polls of a running upstream batch
    timeout_seconds: float = 120.0  # per upstream HTTP call
    max_retries: int = 4            # per upstream HTTP call, on 429, 5xx and connection errors


@dataclass(frozen=True)
class OpenAIConfig(RemoteConfig):
    api_key: str = ""
    base_url: str = "https://api.openai.com/v1"
    # Azure OpenAI: set base_url to the resource endpoint and api_version; [models] maps ids to
    # deployment names.
    api_version: str = ""
    completion_window: str = "24h"


@dataclass(frozen=True)
class AzureConfig(OpenAIConfig):
    """Azure OpenAI: base_url is the resource endpoint; [models] maps ids to deployments."""

    base_url: str = ""
    api_version: str = "2024-10-21"


@dataclass(frozen=True)
class GeminiConfig(RemoteConfig):
    api_key: str = ""
    base_url: str = "https://generativelanguage.googleapis.com"
    api_version: str = "v1beta"


@dataclass(frozen=True)
class AnthropicConfig(RemoteConfig):
    api_key: str = ""
    base_url: str = "https://api.anthropic.com"


@dataclass(frozen=True)
class BedrockConfig(RemoteConfig):
    region: str = "us-west-2"
    # Empty keys: botocore's usual credential chain (environment, profile, instance role).
    access_key_id: str = ""
    secret_access_key: str = ""
    session_token: str = ""
    s3_endpoint_url: str = ""       # empty: AWS; set to MinIO, LocalStack or moto
    bedrock_endpoint_url: str = ""  # empty: AWS
    role_arn: str = ""              # used when a request's roleArn is not a real role ARN
    # s3://bucket/prefix/ where batches of the OpenAI dialect stage their records and outputs
    staging_uri: str = ""


@dataclass(frozen=True)
class VertexConfig(RemoteConfig):
    project: str = ""
    location: str = "us-central1"
    # gs://bucket/prefix/ where batch inputs are staged and Vertex AI writes its outputs
    staging_uri: str = ""
    # A service-account key file; empty: application default credentials.
    credentials_file: str = ""
    base_url: str = ""              # empty: https://{location}-aiplatform.googleapis.com
    storage_url: str = ""           # empty: https://storage.googleapis.com
    poll_interval: float = 60.0     # Vertex jobs take minutes to start


KINDS: dict[str, type[ProviderConfig]] = {
    "local": LocalConfig, "openai": OpenAIConfig, "azure": AzureConfig, "gemini": GeminiConfig,
    "vertex": VertexConfig, "anthropic": AnthropicConfig, "bedrock": BedrockConfig,
}
_INSTANCE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


@dataclass(frozen=True)
class ProvidersConfig:
    """The configured provider instances by name; `local` is always one of them."""

    instances: dict[str, ProviderConfig] = field(
        default_factory=lambda: {"local": LocalConfig(kind="local")})

    @property
    def local(self) -> LocalConfig:
        local = self.instances["local"]
        assert isinstance(local, LocalConfig)
        return local

    def kind(self, name: str) -> str:
        """The kind of adapter the instance `name` is ("" when it is not configured)."""
        instance = self.instances.get(name)
        return instance.kind if instance is not None else ""

    def of_kind(self, kind: str) -> dict[str, ProviderConfig]:
        return {name: c for name, c in self.instances.items() if c.kind == kind}


@dataclass(frozen=True)
class KeyConfig:
    """One [[keys]] entry: an access key, its tenant and what it may use."""

    access_key_id: str = ""
    secret_access_key: str = ""
    tenant: str = ""
    providers: list[str] = field(default_factory=list)  # empty: every configured provider
    models: list[str] = field(default_factory=list)     # shell-style globs; empty: every model
    bearer_token: str = ""                              # a Bedrock API key for /bedrock


@dataclass(frozen=True)
class WebhookConfig:
    """One [[webhooks]] entry: where jobs' ends are POSTed, signed with `secret`."""

    url: str = ""
    secret: str = ""
    events: list[str] = field(default_factory=lambda: list(EVENT_NAMES.values()))
    tenant: str = ""  # empty: every tenant's jobs


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    providers: ProvidersConfig = field(default_factory=ProvidersConfig)
    # Bedrock model id -> {provider: the provider's model name}
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    # With keys, every request must be signed by one of them; without, the server runs open.
    keys: list[KeyConfig] = field(default_factory=list)
    # Model id (or shell-style pattern) -> batch prices in dollars per million tokens.
    prices: dict[str, Price] = field(default_factory=dict)
    webhooks: list[WebhookConfig] = field(default_factory=list)

    def model_name(self, model_id: str, provider: str) -> str:
        """The name the instance `provider` knows `model_id` by: its own mapping, else its
        kind's; unmapped ids are sent as they are."""
        names = self.models.get(model_id, {})
        return names.get(provider) or names.get(self.providers.kind(provider), model_id)

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir)

    def configured_providers(self) -> tuple[str, ...]:
        return self._configured

    @functools.cached_property
    def _configured(self) -> tuple[str, ...]:
        # Asked on every request: computed once.
        return tuple(self.providers.instances)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                env: typing.Mapping[str, str] | None = None) -> Config:
    """Read `path` (or nothing: all defaults), apply `overrides` to [server], validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
    if overrides:
        server = dict(raw.get("server", {}))
        server.update({k: v for k, v in overrides.items() if v is not None})
        raw["server"] = server
    config = _build(Config, raw, "", os.environ if env is None else env)
    _check(config)
    return config


def parse_size(value: int | str, key: str) -> ByteSize:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return ByteSize(value)
    match = _SIZE.match(value) if isinstance(value, str) else None
    if not match:
        raise ConfigError(f"{key}: expected a size such as 5GiB or 1048576, got {value!r}")
    return ByteSize(int(match.group(1)) * _UNITS[(match.group(2) or "B").lower()])


def _check(config: Config) -> None:
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


def _build(cls: type, raw: Any, prefix: str, env: typing.Mapping[str, str]) -> Any:
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key {prefix}{unknown[0]} (allowed in {where}: "
                          f"{', '.join(fields)})")
    missing = [name for name, f in fields.items() if name not in raw
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where}: {missing[0]} is required")
    values = {name: _value(hints[name], raw[name], f"{prefix}{name}", env)
              for name in fields if name in raw}
    return cls(**values)


def _value(hint: Any, value: Any, key: str, env: typing.Mapping[str, str]) -> Any:
    if isinstance(value, str):
        value = _interpolate(value, key, env)
    if isinstance(hint, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list")
        item = typing.get_args(hint)[0]
        return [_value(item, v, f"{key}[{n}]", env) for n, v in enumerate(value)]
    if typing.get_origin(hint) is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table")
        item = typing.get_args(hint)[1]
        return {name: _value(item, v, f"{key}.{name}", env) for name, v in value.items()}
    if hint is ProvidersConfig:
        return _providers(value, key, env)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{key}.", env)  # type: ignore[arg-type]
    if hint is ByteSize:
        return parse_size(value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, str) and decimal(value.strip()):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported setting")


def _providers(raw: Any, key: str, env: typing.Mapping[str, str]) -> ProvidersConfig:
    """[providers.NAME] tables: each an instance of the kind its `kind` names, or its name."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a table")
    instances: dict[str, ProviderConfig] = {"local": LocalConfig(kind="local")}
    for name, table in raw.items():
        where = f"{key}.{name}"
        if not _INSTANCE_NAME.fullmatch(name):
            raise ConfigError(f"{where}: a provider's name is 1 to 63 lower-case letters, digits, "
                              "'.', '_' or '-'")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: expected a table")
        kind = table.get("kind", name)
        if kind not in KINDS:
            raise ConfigError(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)} (an "
                              "instance named other than its kind says which it is)")
        if name == "local" and kind != "local":
            raise ConfigError(f"{where}.kind: the instance named local is the embedded one")
        instances[name] = dataclasses.replace(_build(KINDS[kind], table, f"{where}.", env),
                                              kind=kind)
    return ProvidersConfig(instances)


def _interpolate(value: str, key: str, env: typing.Mapping[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"{key}: environment variable {name} is not set")
        return env[name]

    return _ENV_REF.sub(sub, value)
