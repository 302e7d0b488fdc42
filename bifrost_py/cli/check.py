"""`bifrost-py check-config`: the config is valid (load_config said so, or the command has
already exited naming the bad key), and here is what each provider instance will use. Secrets are
never printed: only whether each is set."""

from __future__ import annotations

import argparse

from bifrost_py.config import (
    AnthropicConfig,
    BedrockConfig,
    Config,
    GeminiConfig,
    LocalConfig,
    OpenAIConfig,
    ProviderConfig,
    VertexConfig,
)


def run(config: Config, args: argparse.Namespace) -> None:
    print("\n".join(describe(config)))


def describe(config: Config) -> list[str]:
    server = config.server
    lines = [f"config OK; serving on {server.host}:{server.port}, state in "
             f"{config.data_path.resolve()}, default provider {server.default_provider}"]
    for name, instance in config.providers.instances.items():
        lines.append(f"provider {name} (kind {instance.kind}): {_uses(instance)}")
    tenants = sorted({key.tenant for key in config.keys})
    lines.append(f"keys: {len(config.keys)} for tenants {', '.join(tenants)}" if config.keys
                 else "keys: none; the server is open to anyone who can reach it")
    lines.append(f"metrics: {_metrics(config)}")
    lines.append(f"prices: {len(config.prices)} model patterns" if config.prices
                 else "prices: none; jobs have no cost")
    lines += [f"webhook {hook.url}: {', '.join(hook.events)}"
              + (f" of tenant {hook.tenant}" if hook.tenant else "") for hook in config.webhooks]
    return lines


def _uses(instance: ProviderConfig) -> str:
    if isinstance(instance, LocalConfig):
        backend = instance.backend + ("" if instance.backend == "echo"
                                      else f" at {instance.base_url}")
        overrides = f", {len(instance.models)} model overrides" if instance.models else ""
        return (f"files in the embedded store, records through {backend}, "
                f"{instance.concurrency} in flight per job{overrides}")
    if isinstance(instance, OpenAIConfig):
        azure = f" (Azure, api-version {instance.api_version})" if instance.api_version else ""
        return f"{instance.base_url}{azure}, {_secret('api key', instance.api_key)}"
    if isinstance(instance, GeminiConfig):
        return (f"{instance.base_url} {instance.api_version}, "
                f"{_secret('api key', instance.api_key, 'GEMINI_API_KEY')}")
    if isinstance(instance, AnthropicConfig):
        return f"{instance.base_url}, {_secret('api key', instance.api_key)}"
    if isinstance(instance, VertexConfig):
        auth = (f"service account key {instance.credentials_file}" if instance.credentials_file
                else "application default credentials")
        return (f"project {instance.project} in {instance.location}, staging in "
                f"{instance.staging_uri}, {auth}")
    assert isinstance(instance, BedrockConfig), f"a kind with no description: {instance.kind}"
    return _bedrock(instance)


def _bedrock(instance: BedrockConfig) -> str:
    credentials = ("access key " + instance.access_key_id if instance.access_key_id
                   else "botocore's credential chain (environment, profile, instance role)")
    s3 = instance.s3_endpoint_url or "AWS S3"
    bedrock = instance.bedrock_endpoint_url or f"AWS Bedrock in {instance.region}"
    role = f", role {instance.role_arn}" if instance.role_arn else ""
    staging = (f", OpenAI batches staged in {instance.staging_uri}" if instance.staging_uri
               else ", no staging_uri: OpenAI batches refused")
    return f"{bedrock}, {s3}, {credentials}{role}{staging}"


def _secret(what: str, value: str, environment: str = "") -> str:
    if value:
        return f"{what} set"
    return f"no {what}" + (f" (the SDK reads {environment})" if environment else "")


def _metrics(config: Config) -> str:
    if config.server.metrics_token:
        return "/metrics with server.metrics_token"
    return "/metrics closed (keys but no metrics_token)" if config.keys else "/metrics open"
