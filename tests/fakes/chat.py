"""A fake OpenAI-compatible chat server that echoes the user, with throttling and failures on cue.

`with FakeChat(latency_ms=20, fail_every=10) as fake:` serves `POST {fake.url}/v1/chat/completions`
on a free loopback port until the block ends; `fake.requests` and `fake.bodies` record what came.
"""

from __future__ import annotations

import asyncio
import json
import time
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bifrost_py.domain.records.neutral import count_tokens
from bifrost_py.testing import ServerThread

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                429: "rate_limit_exceeded", 500: "server_error"}


class FakeChat:
    """Every `fail_every`-th request fails: with `fail_status` when set, else alternately 429
    (with `Retry-After: retry_after`) and 500. `require_key` makes other bearer tokens a 401."""

    def __init__(self, latency_ms: float = 0, fail_every: int = 0, fail_status: int | None = None,
                 retry_after: str = "0", require_key: str | None = None,
                 keep_bodies: bool = True) -> None:
        self.latency_ms = latency_ms
        self.fail_every = fail_every
        self.fail_status = fail_status
        self.retry_after = retry_after
        self.require_key = require_key
        self.keep_bodies = keep_bodies
        self.requests = 0
        self.failures = 0
        self.bodies: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._completions,
                                           methods=["POST"])])
        self._server = ServerThread(self.app, timeout_keep_alive=60, backlog=2048)
        self.port = self._server.port
        self.url = self._server.url

    async def _completions(self, request: Request) -> Response:
        self.requests += 1
        number = self.requests
        body = json.loads(await request.body())
        if self.keep_bodies:
            self.bodies.append(body)
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)
        if self.require_key is not None and (
                request.headers.get("authorization") != f"Bearer {self.require_key}"):
            return _error(401, "Incorrect API key provided.")
        if self.fail_every and number % self.fail_every == 0:
            return self._failure()
        return _json(200, _completion(body, number))

    def _failure(self) -> Response:
        self.failures += 1
        status = self.fail_status or (429 if self.failures % 2 else 500)
        headers = {"Retry-After": self.retry_after} if status == 429 else None
        return _error(status, f"fake failure {self.failures}", headers)

    def start(self) -> FakeChat:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeChat:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _completion(body: dict[str, Any], number: int) -> dict[str, Any]:
    """A real chat.completion: the echo, cut at max_tokens, or a call of the tool it must call."""
    prompt_tokens = sum(count_tokens(_text(m.get("content"))) for m in body["messages"])
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None,
                               "annotations": []}
    tool = _forced_tool(body)
    if tool is not None:
        message["tool_calls"] = [{"id": f"call_{number}", "type": "function",
                                  "function": {"name": tool, "arguments": "{}"}}]
        finish_reason, completion_tokens = "tool_calls", count_tokens(tool)
    else:
        message["content"], finish_reason = _echo(body)
        completion_tokens = count_tokens(message["content"])
    return {"id": f"chatcmpl-fake{number}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", ""),
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
            "system_fingerprint": "fp_fake"}


def _echo(body: dict[str, Any]) -> tuple[str, str]:
    users = (m for m in reversed(body["messages"]) if m.get("role") == "user")
    last: dict[str, Any] = next(users, {})
    answer = "echo: " + _text(last.get("content"))
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit and count_tokens(answer) > limit:
        return answer[:limit * 4], "length"
    return answer, "stop"


def _forced_tool(body: dict[str, Any]) -> str | None:
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if not tools or choice in (None, "auto", "none"):
        return None
    if choice == "required":
        return str(tools[0]["function"]["name"])
    return str(choice["function"]["name"])


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if part.get("type") == "text")
    return content or ""


def _json(status: int, value: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(value).encode(), status, headers, "application/json")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    error = {"message": message, "type": _ERROR_TYPES.get(status, "api_error"), "param": None,
             "code": None}
    return _json(status, {"error": error}, headers)
