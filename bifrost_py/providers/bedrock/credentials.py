"""The credentials the bedrock provider signs its calls to Bedrock and S3 with."""

from __future__ import annotations

from bifrost_py.aws.sigv4 import ServerCredentials
from bifrost_py.config import BedrockConfig


def bedrock_credentials(settings: BedrockConfig) -> ServerCredentials:
    return ServerCredentials(settings.access_key_id, settings.secret_access_key,
                             settings.session_token, owner="bedrock",
                             where="providers.bedrock.access_key_id and secret_access_key")
