"""The composition root: config in, the server's parts out, wired to each other.

The only module that knows every layer. A provider's SDK is imported only when the provider is
configured, so a server that runs only `local` never pays for (or needs) the openai, google-genai
or anthropic packages at start-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bifrost_py.config import Config, RemoteConfig
from bifrost_py.domain.jobs import BEDROCK, OPENAI
from bifrost_py.jobs.batches import Batches
from bifrost_py.jobs.control import ControlPlane
from bifrost_py.jobs.delegated import DelegatedJobs
from bifrost_py.jobs.dialects.base import Dialect
from bifrost_py.jobs.dialects.bedrock import BedrockDialect
from bifrost_py.jobs.dialects.openai import OpenAIDialect
from bifrost_py.jobs.local import LocalJobs
from bifrost_py.jobs.remote import RemoteJobs
from bifrost_py.jobs.routing import Routing
from bifrost_py.jobs.runner import ByDialect, Executor, Runner
from bifrost_py.ports.files import FileMirror, Files
from bifrost_py.ports.store import Store
from bifrost_py.ports.upstream import BatchAPI
from bifrost_py.providers.local.backends import make_backend
from bifrost_py.store.sqlite.store import SqliteStore
from bifrost_py.wire.auth.guard import Guard
from bifrost_py.wire.bedrock.app import BedrockApp
from bifrost_py.wire.openai.app import OpenAIApp
from bifrost_py.wire.openai.service import V1
from bifrost_py.wire.s3.app import S3App
from bifrost_py.wire.s3.proxy import S3Proxy
from bifrost_py.wire.s3.proxy_tenancy import ProxyTenancy

Closer = Callable[[], Awaitable[None]]


@dataclass
class Providers:
    """What the configured providers add: their files on the S3 mount and their job engines."""

    files: dict[str, Files] = field(default_factory=dict)  # bedrock's files are real S3
    executors: dict[str, Executor] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)  # jobs running at once
    s3_proxy: S3Proxy | None = None
    closers: list[Closer] = field(default_factory=list)


class Server:
    """Everything the server holds open while it runs."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store: Store = SqliteStore(config.data_path, fsync=config.server.fsync)
        self.providers = providers(config, self.store)
        self.runner = Runner(self.store.jobs, self.providers.executors, self.providers.limits)
        self.guard = Guard(config)
        routing = Routing(config)
        plane = ControlPlane(config, self.store.jobs, self.runner.wake)
        self.s3 = S3App(config, self.providers.files, routing, self.guard,
                        self.providers.s3_proxy)
        self.bedrock = BedrockApp(plane, routing, self.guard)
        local = self.providers.files["local"]
        file_store = self.store.file_store()
        batches = Batches(config, self.store.jobs, file_store, self.runner.wake)
        self.openai = OpenAIApp(V1(batches, file_store, local.blobs, local.max_object_size,
                                   self.store.file_uploads()), routing, self.guard)

    async def open(self) -> None:
        await self.store.open()
        self.runner.start()

    async def close(self) -> None:
        await self.runner.stop()
        for close in self.providers.closers:
            await close()
        await self.store.close()


def providers(config: Config, store: Store) -> Providers:
    built = Providers()
    work_dir = config.data_path / "jobs"
    settings = config.providers
    max_records = config.server.max_records_per_job
    local = store.local_files(settings.local.auto_create_buckets, settings.local.max_object_size)
    built.files["local"] = local
    openai_files = OpenAIDialect(local.objects, store.file_store())

    def dialects(files: Files) -> dict[str, Dialect]:
        """The dialects a provider's jobs may speak, and where each keeps their inputs and
        outputs: Bedrock's in the provider's own files, OpenAI's in the Files API's."""
        return {BEDROCK: BedrockDialect(files.objects), OPENAI: openai_files}

    built.executors["local"] = LocalJobs(settings.local, store.jobs, dialects(local),
                                         work_dir, max_records, make_backend)
    built.limits["local"] = settings.local.max_concurrent_jobs

    def remote(name: str, api: BatchAPI, remote_settings: RemoteConfig, files: Files) -> None:
        built.files[name] = files
        built.executors[name] = RemoteJobs(api, store.jobs, dialects(files), work_dir,
                                           remote_settings.poll_interval, max_records)
        built.closers.append(api.aclose)

    def mirrored(name: str, mirror: FileMirror) -> Files:
        built.closers.append(mirror.aclose)
        return store.mirrored_files(name, mirror, settings.local.max_object_size)

    if settings.openai is not None:
        from bifrost_py.providers.openai.batch import OpenAIBatch
        from bifrost_py.providers.openai.files import OpenAIFiles

        remote("openai", OpenAIBatch(settings.openai, _names(config, "openai")),
               settings.openai, mirrored("openai", OpenAIFiles(settings.openai)))
    if settings.gemini is not None:
        from bifrost_py.providers.gemini.batch import GeminiBatch
        from bifrost_py.providers.gemini.files import GeminiFiles

        remote("gemini", GeminiBatch(settings.gemini, _names(config, "gemini")),
               settings.gemini, mirrored("gemini", GeminiFiles(settings.gemini)))
    if settings.anthropic is not None:
        from bifrost_py.providers.anthropic.batch import AnthropicBatch

        # Anthropic batches take their requests inline: files stay in the embedded store.
        remote("anthropic", AnthropicBatch(settings.anthropic, _names(config, "anthropic")),
               settings.anthropic, local)
    if settings.bedrock is not None:
        from bifrost_py.providers.bedrock.batch import BedrockBatch
        from bifrost_py.providers.bedrock.records import BedrockRecords
        from bifrost_py.providers.bedrock.s3 import S3Endpoint

        owners = store.bucket_owners()
        api = BedrockBatch(settings.bedrock, _names(config, "bedrock"), owners)
        endpoint = S3Endpoint(settings.bedrock)
        records = BedrockRecords(settings.bedrock, _names(config, "bedrock"), api, endpoint)
        # Bedrock's own jobs run on AWS as they are; other dialects' are translated to records.
        built.executors["bedrock"] = ByDialect({
            BEDROCK: DelegatedJobs(api, store.jobs, settings.bedrock.poll_interval),
            OPENAI: RemoteJobs(records, store.jobs, dialects(local), work_dir,
                               settings.bedrock.poll_interval, max_records)})
        built.s3_proxy = S3Proxy(endpoint, ProxyTenancy(owners))
        built.closers += [api.aclose, endpoint.aclose]
    return built


def _names(config: Config, provider: str) -> Callable[[str], str]:
    return lambda model_id: config.model_name(model_id, provider)
