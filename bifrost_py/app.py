"""create_app(config): the mounts, and a lifespan that opens the store and closes it cleanly."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bifrost_py.config import Config
from bifrost_py.control import ControlPlane
from bifrost_py.providers.registry import build
from bifrost_py.runner import Runner
from bifrost_py.store.blobs import BlobStore
from bifrost_py.store.db import Database
from bifrost_py.store.jobs import JobStore
from bifrost_py.wire.auth.guard import Guard
from bifrost_py.wire.bedrock.app import BedrockApp
from bifrost_py.wire.s3.app import S3App

log = logging.getLogger("bifrost_py")


class Server:
    """What the server holds open while it runs."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = Database(config.data_path / "bifrost.sqlite3")
        self.blobs = BlobStore(config.data_path, fsync=config.server.fsync)
        self.jobs = JobStore(self.db)
        self.providers = build(config, self.db, self.blobs, self.jobs)
        self.runner = Runner(self.jobs, self.providers.executors, self.providers.limits)
        self.plane = ControlPlane(config, self.jobs, self.runner.wake)

    async def open(self) -> None:
        self.blobs.open()
        referenced: set[str] = set()
        for db in (self.db, *self.providers.databases):
            await db.open()
            referenced |= {blob for (blob,) in await db.fetchall(
                "SELECT json_extract(value, '$[0]') FROM objects, json_each(objects.blobs) "
                "UNION SELECT blob FROM parts")}
        for files in self.providers.files.values():
            await files.objects.open()
        for opener in self.providers.openers:
            await opener()
        swept = self.blobs.sweep(referenced)
        if swept:
            log.info("removed %d unreferenced blobs left by an earlier crash", swept)
        self.runner.start()

    async def close(self) -> None:
        await self.runner.stop()
        for close in self.providers.closers:
            await close()
        self.blobs.flush()
        for db in (*self.providers.databases, self.db):
            await db.close()


class Mounts:
    """Sends each request to the protocol mounted on its path prefix.

    Starlette's Mount would redirect `/bedrock/files` to `/bedrock/files/`, which SDKs take for
    an error, and costs a regex per request; a prefix test does neither. The prefix becomes the
    scope's `root_path`, ASGI's mount point, so no mount needs to know where it is mounted.
    """

    def __init__(self, fallback: ASGIApp, mounts: dict[str, ASGIApp]) -> None:
        self.fallback = fallback
        self.mounts = sorted(mounts.items(), key=lambda m: -len(m[0]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            for prefix, app in self.mounts:
                if path == prefix or path.startswith(prefix + "/"):
                    mounted = {**scope, "root_path": scope.get("root_path", "") + prefix}
                    return await app(mounted, receive, send)
        await self.fallback(scope, receive, send)


def create_app(config: Config) -> Mounts:
    server = Server(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await server.open()
        log.info("bifrost_py serving data from %s", config.data_path.resolve())
        if not guard.enabled:
            log.warning("no [[keys]] configured: the server is open to anyone who can reach it "
                        "(fine for development, not for a shared network)")
        try:
            yield
        finally:
            await server.close()

    async def health(request: Request) -> JSONResponse:
        ok = server.db.is_open
        return JSONResponse({"status": "ok" if ok else "starting"}, 200 if ok else 503)

    guard = Guard(config)
    s3 = S3App(config, server.providers.files, guard, server.providers.s3_proxy)
    app = Starlette(routes=[Route("/health", health)], lifespan=lifespan)
    app.state.server = server
    return Mounts(app, {"/bedrock/files": s3, "/bedrock": BedrockApp(server.plane, guard)})
