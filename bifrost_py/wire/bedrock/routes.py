"""Bedrock operations matched on method and the raw (still percent-encoded) path."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from bifrost_py.jobs.control import ControlPlane
from bifrost_py.wire.bedrock import handlers
from bifrost_py.wire.bedrock.request import BedrockRequest

Handler = Callable[[BedrockRequest, ControlPlane], Awaitable[Response]]

ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(f"^{path}$"), handler) for method, path, handler in [
        ("POST", "/model-invocation-job", handlers.create_job),
        ("GET", "/model-invocation-jobs", handlers.list_jobs),
        ("POST", "/model-invocation-job/(?P<jobIdentifier>[^/]+)/stop", handlers.stop_job),
        ("GET", "/model-invocation-job/(?P<jobIdentifier>[^/]+)", handlers.get_job),
        # An ARN sent without percent-encoding carries a literal slash.
        ("POST", "/model-invocation-job/(?P<jobIdentifier>[^/]+/[^/]+)/stop", handlers.stop_job),
        ("GET", "/model-invocation-job/(?P<jobIdentifier>[^/]+/[^/]+)", handlers.get_job),
        ("POST", "/tagResource", handlers.tag_resource),
        ("POST", "/untagResource", handlers.untag_resource),
        ("POST", "/listTagsForResource", handlers.list_tags),
    ]
]
