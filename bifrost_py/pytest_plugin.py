"""pytest fixtures that stand in for AWS S3 and Bedrock: a real bifrost_py server per session.

Registered through the `pytest11` entry point, so installing bifrost-py is all a project needs.
Override `bifrost_config` (a path to a config.toml, or None) to configure the server; with
[[keys]] in it, the clients sign with the first key (override `bifrost_credentials` to choose).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bifrost_py.testing import RunningServer


@pytest.fixture(scope="session")
def bifrost_config() -> str | Path | None:
    """The config.toml the server starts with; None means the built-in defaults."""
    return None


@pytest.fixture(scope="session")
def bifrost_server(bifrost_config: str | Path | None,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("bifrost-data")
    with RunningServer(data_dir, bifrost_config) as server:
        yield server


@pytest.fixture(scope="session")
def bifrost_credentials(bifrost_server: RunningServer) -> tuple[str, str]:
    """(access key id, secret) the clients sign with: the config's first [[keys]] entry, or,
    on a server without keys, any pair (boto3 wants one to sign with)."""
    keys = bifrost_server.config.keys
    if keys:
        return keys[0].access_key_id, keys[0].secret_access_key
    return "AKIABIFROSTTEST00000", "bifrost-test-secret"


def _client(service: str, endpoint: str, server: RunningServer,
            credentials: tuple[str, str]) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=server.config.server.region,
                        aws_access_key_id=credentials[0], aws_secret_access_key=credentials[1])


@pytest.fixture
def bifrost_s3(bifrost_server: RunningServer, bifrost_credentials: tuple[str, str]) -> Any:
    """A boto3 S3 client on the server's /bedrock/files mount."""
    return _client("s3", bifrost_server.s3_url, bifrost_server, bifrost_credentials)


@pytest.fixture
def bifrost_bedrock(bifrost_server: RunningServer, bifrost_credentials: tuple[str, str]) -> Any:
    """A boto3 Bedrock client on the server's /bedrock mount (batch inference jobs)."""
    return _client("bedrock", bifrost_server.bedrock_url, bifrost_server, bifrost_credentials)
