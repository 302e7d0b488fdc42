"""Builds what each configured provider needs: its files on the S3 mount and its job executor.

A provider's SDK is imported only when the provider is configured, so a server that runs only
`local` never pays for (or needs) the openai, google-genai or anthropic packages at start-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bifrost_py.config import Config, RemoteConfig
from bifrost_py.providers.base import BatchAPI, FileMirror
from bifrost_py.providers.local import LocalFiles, local_files
from bifrost_py.providers.local_jobs import LocalJobs
from bifrost_py.providers.proxy_tenancy import ProxyTenancy
from bifrost_py.providers.remote import RemoteJobs
from bifrost_py.runner import Executor
from bifrost_py.store.blobs import BlobStore
from bifrost_py.store.bucket_owners import BucketOwners
from bifrost_py.store.db import Database
from bifrost_py.store.jobs import JobStore
from bifrost_py.store.multipart import Uploads
from bifrost_py.store.objects import ObjectStore

if TYPE_CHECKING:
    from bifrost_py.providers.bedrock_s3 import S3Proxy


@dataclass
class Providers:
    files: dict[str, LocalFiles] = field(default_factory=dict)  # bedrock's files are real S3
    databases: list[Database] = field(default_factory=list)     # their own files' databases
    executors: dict[str, Executor] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)        # jobs running at once
    s3_proxy: S3Proxy | None = None
    openers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def build(config: Config, db: Database, blobs: BlobStore, jobs: JobStore) -> Providers:
    built = Providers()
    work_dir = config.data_path / "jobs"
    local = local_files(config, db, blobs)
    built.files["local"] = local
    max_records = config.server.max_records_per_job
    built.executors["local"] = LocalJobs(config.providers.local, jobs, local.objects, work_dir,
                                         max_records)
    built.limits["local"] = config.providers.local.max_concurrent_jobs
    providers = config.providers

    def remote(name: str, api: BatchAPI, settings: RemoteConfig, files: LocalFiles) -> None:
        built.files[name] = files
        built.executors[name] = RemoteJobs(api, jobs, files.objects, work_dir,
                                           settings.poll_interval, max_records)
        built.closers.append(api.aclose)

    def mirrored(name: str, mirror: FileMirror) -> LocalFiles:
        """Files kept in a database of their own, each also uploaded to the provider."""
        files_db = Database(config.data_path / f"files-{name}.sqlite3")
        built.databases.append(files_db)
        built.closers.append(mirror.aclose)
        objects = ObjectStore(files_db, blobs, auto_create_buckets=True, mirror=mirror)
        return LocalFiles(objects, Uploads(objects), local.max_object_size)

    if providers.openai is not None:
        from bifrost_py.providers.openai import OpenAIBatch, OpenAIFiles

        remote("openai", OpenAIBatch(providers.openai, _names(config, "openai")),
               providers.openai, mirrored("openai", OpenAIFiles(providers.openai)))
    if providers.gemini is not None:
        from bifrost_py.providers.gemini import GeminiBatch, GeminiFiles

        remote("gemini", GeminiBatch(providers.gemini, _names(config, "gemini")),
               providers.gemini, mirrored("gemini", GeminiFiles(providers.gemini)))
    if providers.anthropic is not None:
        from bifrost_py.providers.anthropic import AnthropicBatch

        # Anthropic batches take their requests inline: files stay in the embedded store.
        remote("anthropic", AnthropicBatch(providers.anthropic, _names(config, "anthropic")),
               providers.anthropic, local)
    if providers.bedrock is not None:
        from bifrost_py.providers.bedrock import BedrockBatch, S3Proxy

        owners = BucketOwners(db)
        built.openers.append(owners.open)
        remote("bedrock", BedrockBatch(providers.bedrock, _names(config, "bedrock"), owners),
               providers.bedrock, local)
        del built.files["bedrock"]
        proxy = S3Proxy(providers.bedrock, ProxyTenancy(owners))
        built.s3_proxy = proxy
        built.closers.append(proxy.aclose)
    return built


def _names(config: Config, provider: str) -> Callable[[str], str]:
    return lambda model_id: config.model_name(model_id, provider)

