"""The composition root: config in, the server's parts out, wired to each other.

The only module that knows every layer. A provider's SDK is imported only when the provider is
configured, so a server that runs only `local` never pays for (or needs) the openai, google-genai
or anthropic packages at start-up.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bifrost_py.config import (
    AnthropicConfig,
    BedrockConfig,
    Config,
    GeminiConfig,
    LocalConfig,
    OpenAIConfig,
    RemoteConfig,
    VertexConfig,
)
from bifrost_py.domain.jobs import BEDROCK, OPENAI
from bifrost_py.jobs.batches import Batches
from bifrost_py.jobs.control import ControlPlane
from bifrost_py.jobs.delegated import DelegatedJobs
from bifrost_py.jobs.dialects.base import Dialect
from bifrost_py.jobs.dialects.bedrock import BedrockDialect
from bifrost_py.jobs.dialects.openai import OpenAIDialect
from bifrost_py.jobs.endings import Endings
from bifrost_py.jobs.heartbeat import Heartbeat
from bifrost_py.jobs.housekeeping import Housekeeping
from bifrost_py.jobs.local import LocalJobs
from bifrost_py.jobs.remote import RemoteJobs
from bifrost_py.jobs.routing import Routing
from bifrost_py.jobs.runner import ByDialect, Executor, Runner
from bifrost_py.metrics.registry import Metrics
from bifrost_py.metrics.upstream import MeteredBatchAPI, MeteredDelegatedAPI
from bifrost_py.notify.dispatcher import Dispatcher
from bifrost_py.ports.files import FileMirror, Files
from bifrost_py.ports.store import Store
from bifrost_py.ports.upstream import BatchAPI
from bifrost_py.providers.local.backends import make_backend
from bifrost_py.store.blobs.configured import blob_store
from bifrost_py.store.postgres.store import PostgresStore
from bifrost_py.store.sqlite.store import SqliteStore
from bifrost_py.wire.auth.guard import Guard
from bifrost_py.wire.bedrock.app import BedrockApp
from bifrost_py.wire.metrics_endpoint import MetricsEndpoint
from bifrost_py.wire.observe import Observer
from bifrost_py.wire.openai.app import OpenAIApp
from bifrost_py.wire.openai.service import V1
from bifrost_py.wire.s3.app import S3App
from bifrost_py.wire.s3.proxy import S3Proxy
from bifrost_py.wire.s3.proxy_tenancy import ProxyTenancy
from bifrost_py.wire.ui.app import UIApp
from bifrost_py.wire.ui.service import dashboard

Closer = Callable[[], Awaitable[None]]


@dataclass
class Providers:
    """What the configured providers add: their files on the S3 mount and their job engines."""

    files: dict[str, Files] = field(default_factory=dict)  # bedrock's files are real S3
    executors: dict[str, Executor] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)  # jobs running at once
    s3_proxies: dict[str, S3Proxy] = field(default_factory=dict)
    closers: list[Closer] = field(default_factory=list)


class Server:
    """Everything the server holds open while it runs."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.metrics = Metrics()
        self.observer = Observer(self.metrics)
        self.store = new_store(config)
        self.providers = providers(config, self.store, self.metrics)
        replica, lease_seconds = replica_id(config), config.server.job_lease_seconds
        leases = self.store.leases(replica, lease_seconds)
        self.runner = Runner(self.store.jobs, leases, self.providers.executors,
                             self.providers.limits, lease_seconds)
        self.dispatcher = Dispatcher(config, Endings(config, self.store.jobs), self.store.outbox)
        self.guard = Guard(config)
        self.heartbeat = Heartbeat(self.store.replicas(), replica, lease_seconds / 3,
                                   self.guard.share_among)
        routing = Routing(config)
        plane = ControlPlane(config, self.store.jobs, self.runner.wake)
        self.s3 = S3App(config, self.providers.files, routing, self.guard,
                        self.providers.s3_proxies, self.observer)
        self.bedrock = BedrockApp(plane, routing, self.guard, self.observer)
        local = self.providers.files["local"]
        file_store = self.store.file_store()
        batches = Batches(config, self.store.jobs, file_store, self.runner.wake)
        self.openai = OpenAIApp(V1(batches, file_store, local.blobs, local.max_object_size,
                                   self.store.file_uploads()), routing, self.guard, self.observer)
        self.housekeeping = Housekeeping(file_store, self.store.file_uploads())
        self.metrics_endpoint = MetricsEndpoint(self.metrics, self.store.jobs,
                                                config.server.metrics_token, self.guard.enabled)
        self.ui = UIApp(dashboard(config, self.store.jobs, self.guard, file_store,
                                  {name: files.objects for name, files
                                   in self.providers.files.items()}), self.observer)

    async def open(self) -> None:
        await self.store.open()
        self.runner.start()
        self.heartbeat.start()
        self.dispatcher.start()
        self.housekeeping.start()

    async def close(self) -> None:
        await self.runner.stop()
        await self.heartbeat.stop()
        await self.dispatcher.stop()
        await self.housekeeping.stop()
        for close in self.providers.closers:
            await close()
        await self.store.close()


def replica_id(config: Config) -> str:
    """The configured name, else one no other live process has: host name and process id."""
    return config.server.replica_id or f"{socket.gethostname()}:{os.getpid()}"


def new_store(config: Config) -> Store:
    """The store the config names, not yet open: PostgreSQL at [store] database_url, else SQLite
    under data_dir; object bytes in the S3 bucket at [store] blobs, else under data_dir."""
    blobs = blob_store(config.store, config.data_path, config.server.fsync)
    if config.store.database_url:
        return PostgresStore(config.store.database_url, blobs)
    return SqliteStore(config.data_path, blobs)


def providers(config: Config, store: Store, metrics: Metrics) -> Providers:
    """Every configured instance's files and executor, built by its kind's builder."""
    build = _Build(config, store, metrics)
    for name, settings in config.providers.instances.items():
        _BUILDERS[settings.kind](build, name, settings)
    return build.built


class _Build:
    """What every kind's builder needs, and what they have built so far."""

    def __init__(self, config: Config, store: Store, metrics: Metrics) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.built = Providers()
        self.work_dir = config.data_path / "jobs"
        self.spools = store.spools(self.work_dir)
        self.max_records = config.server.max_records_per_job
        local = config.providers.local
        self.local = store.local_files(local.auto_create_buckets, local.max_object_size)
        self.openai_files = OpenAIDialect(self.local.objects, store.file_store())

    def dialects(self, files: Files) -> dict[str, Dialect]:
        """The dialects a provider's jobs may speak, and where each keeps their inputs and
        outputs: Bedrock's in the provider's own files, OpenAI's in the Files API's."""
        return {BEDROCK: BedrockDialect(files.objects), OPENAI: self.openai_files}

    def names(self, provider: str) -> Callable[[str], str]:
        return lambda model_id: self.config.model_name(model_id, provider)

    def metered(self, name: str, api: BatchAPI) -> BatchAPI:
        return MeteredBatchAPI(api, name, self.metrics)

    def remote(self, name: str, api: BatchAPI, settings: RemoteConfig, files: Files) -> None:
        api = self.metered(name, api)
        self.built.files[name] = files
        self.built.executors[name] = RemoteJobs(api, self.store.jobs, self.dialects(files),
                                                self.spools, self.work_dir,
                                                settings.poll_interval, self.max_records)
        self.built.closers.append(api.aclose)

    def mirrored(self, name: str, mirror: FileMirror) -> Files:
        self.built.closers.append(mirror.aclose)
        return self.store.mirrored_files(name, mirror,
                                         self.config.providers.local.max_object_size)


def _local(build: _Build, name: str, settings: LocalConfig) -> None:
    # Every local instance keeps its files in the one embedded store; each runs its own jobs.
    build.built.files[name] = build.local
    build.built.executors[name] = LocalJobs(settings, build.store.jobs,
                                            build.dialects(build.local), build.spools,
                                            build.max_records, make_backend)
    build.built.limits[name] = settings.max_concurrent_jobs


def _openai(build: _Build, name: str, settings: OpenAIConfig) -> None:
    from bifrost_py.providers.openai.batch import OpenAIBatch
    from bifrost_py.providers.openai.files import OpenAIFiles

    build.remote(name, OpenAIBatch(settings, build.names(name)), settings,
                 build.mirrored(name, OpenAIFiles(settings)))


def _gemini(build: _Build, name: str, settings: GeminiConfig) -> None:
    from bifrost_py.providers.gemini.batch import GeminiBatch
    from bifrost_py.providers.gemini.files import GeminiFiles

    build.remote(name, GeminiBatch(settings, build.names(name)), settings,
                 build.mirrored(name, GeminiFiles(settings)))


def _anthropic(build: _Build, name: str, settings: AnthropicConfig) -> None:
    from bifrost_py.providers.anthropic.batch import AnthropicBatch

    # Anthropic batches take their requests inline: files stay in the embedded store.
    build.remote(name, AnthropicBatch(settings, build.names(name)), settings, build.local)


def _bedrock(build: _Build, name: str, settings: BedrockConfig) -> None:
    from bifrost_py.providers.bedrock.batch import BedrockBatch
    from bifrost_py.providers.bedrock.records import BedrockRecords
    from bifrost_py.providers.bedrock.s3 import S3Endpoint

    store, built = build.store, build.built
    owners = store.bucket_owners()
    api = BedrockBatch(settings, build.names(name), owners)
    endpoint = S3Endpoint(settings)
    records = build.metered(name, BedrockRecords(settings, build.names(name), api, endpoint))
    # Bedrock's own jobs run on AWS as they are; other dialects' are translated to records.
    built.executors[name] = ByDialect({
        BEDROCK: DelegatedJobs(MeteredDelegatedAPI(api, name, build.metrics), store.jobs,
                               settings.poll_interval),
        OPENAI: RemoteJobs(records, store.jobs, build.dialects(build.local), build.spools,
                           build.work_dir, settings.poll_interval, build.max_records)})
    built.s3_proxies[name] = S3Proxy(endpoint, ProxyTenancy(owners))
    built.closers += [api.aclose, endpoint.aclose]


def _vertex(build: _Build, name: str, settings: VertexConfig) -> None:
    from bifrost_py.providers.vertex.batch import VertexBatch
    from bifrost_py.providers.vertex.files import VertexFiles

    build.remote(name, VertexBatch(settings, build.names(name)), settings,
                 build.mirrored(name, VertexFiles(settings)))


_BUILDERS: dict[str, Callable[[_Build, str, Any], None]] = {
    "local": _local, "openai": _openai, "azure": _openai, "gemini": _gemini, "vertex": _vertex,
    "anthropic": _anthropic, "bedrock": _bedrock,
}
