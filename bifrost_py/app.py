"""create_app(config): the mounts, and a lifespan that opens the server's parts and closes them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bifrost_py.assembly import Server
from bifrost_py.config import Config
from bifrost_py.wire.observe import Observer

log = logging.getLogger("bifrost_py")


class Mounts:
    """Sends each request to the protocol mounted on its path prefix.

    Starlette's Mount would redirect `/bedrock/files` to `/bedrock/files/`, which SDKs take for
    an error, and costs a regex per request; a prefix test does neither. The prefix becomes the
    scope's `root_path`, ASGI's mount point, so no mount needs to know where it is mounted.
    """

    def __init__(self, fallback: ASGIApp, mounts: dict[str, tuple[str, ASGIApp]],
                 observer: Observer) -> None:
        self.fallback = fallback
        self.mounts = sorted(mounts.items(), key=lambda m: -len(m[0]))
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            for prefix, (name, app) in self.mounts:
                if path == prefix or path.startswith(prefix + "/"):
                    mounted = {**scope, "root_path": scope.get("root_path", "") + prefix}
                    return await app(mounted, *self.observer.counted(name, receive, send))
        await self.fallback(scope, receive, send)


def create_app(config: Config) -> Mounts:
    server = Server(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await server.open()
        log.info("bifrost_py serving data from %s", config.data_path.resolve())
        if not server.guard.enabled:
            log.warning("no [[keys]] configured: the server is open to anyone who can reach it "
                        "(fine for development, not for a shared network)")
        try:
            yield
        finally:
            await server.close()

    async def health(request: Request) -> JSONResponse:
        ok = server.store.is_open
        return JSONResponse({"status": "ok" if ok else "starting"}, 200 if ok else 503)

    routes = [Route("/health", health), Route("/metrics", server.metrics_endpoint.serve)]
    app = Starlette(routes=routes, lifespan=lifespan)
    return Mounts(app, {"/bedrock/files": ("s3", server.s3),
                        "/bedrock": ("bedrock", server.bedrock),
                        "/v1": ("openai", server.openai), "/openai/v1": ("openai", server.openai),
                        "/ui": ("ui", server.ui)},
                  server.observer)
