"""The tables of config.toml as frozen dataclasses: their fields are the only keys each accepts."""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
from dataclasses import dataclass, field
from pathlib import Path

from bifrost_py.domain.costs import Price
from bifrost_py.domain.job_events import EVENT_NAMES

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
    # This process among replicas sharing one [store]; empty: host name and process id.
    replica_id: str = ""
    # A replica that stops renewing its jobs' leases loses them to another after this long.
    job_lease_seconds: float = 30.0


@dataclass(frozen=True)
class StoreConfig:
    """[store]: where state and bytes live. Absent keys keep the embedded default, SQLite and
    files under data_dir; a database URL and an S3 prefix let several replicas share both."""

    database_url: str = ""             # postgresql://user@host:port/dbname
    blobs: str = ""                    # s3://bucket/prefix/
    blobs_endpoint_url: str = ""       # empty: AWS
    blobs_region: str = "us-east-1"
    # Empty keys: botocore's usual credential chain (environment, profile, instance role).
    blobs_access_key_id: str = ""
    blobs_secret_access_key: str = ""


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
    store: StoreConfig = field(default_factory=StoreConfig)
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

