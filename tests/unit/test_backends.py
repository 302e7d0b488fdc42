"""The echo backend, and the OpenAI-compatible backend against the fake chat server."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Iterator
from email.utils import formatdate
from typing import Any

import aiohttp
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bifrost_py.domain.records.neutral import (
    Completion,
    Message,
    Prompt,
    image_block,
    text_block,
    tool_result_block,
)
from bifrost_py.ports.backends import Backend, BackendError
from bifrost_py.providers.local import openai_compatible
from bifrost_py.providers.local.echo import EchoBackend
from bifrost_py.providers.local.openai_compatible import (
    OpenAICompatibleBackend,
    retry_after,
    retry_delay,
)
from bifrost_py.testing import ServerThread
from tests.fakes.chat import FakeChat

TOOLS = [{"name": "weather", "description": "Weather now", "input_schema": {"type": "object"}},
         {"name": "time", "description": "", "input_schema": {"type": "object"}}]


def ask(text: str, **options: Any) -> Prompt:
    return Prompt(messages=[Message("user", [text_block(text)])], **options)


def complete(make: Callable[[], Backend], prompt: Prompt,
             model_id: str = "gpt-4o-mini") -> Completion:
    """One completion from a backend made inside the event loop (its pool belongs to that loop)."""
    async def run() -> Completion:
        backend = make()
        try:
            return await backend.complete(model_id, prompt)
        finally:
            await backend.aclose()
    return asyncio.run(run())


def openai_backend(fake: FakeChat, **options: Any) -> Callable[[], OpenAICompatibleBackend]:
    return lambda: OpenAICompatibleBackend(fake.url + "/v1", **options)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff delays the backend asked for; nothing actually waits."""
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr(openai_compatible, "sleep", record)
    return delays


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeChat]:
    with FakeChat() as server:
        yield server


# ---------------------------------------------------------------------------------------------
# Echo


def test_echo_answers_with_the_last_user_message() -> None:
    prompt = Prompt(system="Be brief.",
                    messages=[Message("user", [text_block("first")]),
                              Message("assistant", [text_block("ok")]),
                              Message("user", [text_block("Hello"), image_block("image/png", "x"),
                                               text_block("there")])])
    completion = complete(EchoBackend, prompt)
    assert completion == Completion([text_block("echo: Hello\nthere")],
                                    input_tokens=7,  # "Be brief.firstokHellothere": 26 chars
                                    output_tokens=5, stop_reason="end_turn")


def test_echo_is_deterministic() -> None:
    prompt = ask("same question", tools=TOOLS, tool_choice="any")
    assert complete(EchoBackend, prompt) == complete(lambda: EchoBackend(latency_ms=1), prompt)
    assert complete(EchoBackend, ask("x")) == complete(EchoBackend, ask("x"))


def test_echo_is_cut_at_max_tokens() -> None:
    completion = complete(EchoBackend, ask("a fairly long question indeed", max_tokens=3))
    assert completion.text == "echo: a fair"
    assert (completion.output_tokens, completion.stop_reason) == (3, "max_tokens")


def test_echo_is_not_cut_when_it_fits() -> None:
    completion = complete(EchoBackend, ask("short", max_tokens=3))
    assert (completion.text, completion.stop_reason) == ("echo: short", "end_turn")


def test_echo_stops_at_a_stop_sequence() -> None:
    completion = complete(EchoBackend, ask("one. two. three", stop=["zzz", " two", "."]))
    assert completion.text == "echo: one"
    assert (completion.stop_reason, completion.stop_sequence) == ("stop_sequence", ".")


@pytest.mark.parametrize(("choice", "tool"), [("any", "weather"), ("time", "time")])
def test_echo_calls_the_tool_it_must(choice: str, tool: str) -> None:
    completion = complete(EchoBackend, ask("x", tools=TOOLS, tool_choice=choice))
    assert completion.stop_reason == "tool_use"
    [block] = completion.content
    assert (block["type"], block["name"], block["input"]) == ("tool_use", tool, {})
    assert block["id"].startswith("toolu_")


@pytest.mark.parametrize("choice", [None, "auto", "none", "missing-tool"])
def test_echo_answers_in_text_when_no_tool_is_forced(choice: str | None) -> None:
    completion = complete(EchoBackend, ask("x", tools=TOOLS, tool_choice=choice))
    assert (completion.text, completion.stop_reason) == ("echo: x", "end_turn")


def test_echo_counts_tool_results_as_input() -> None:
    prompt = Prompt(messages=[Message("user", [tool_result_block("t", "12345678")])])
    assert complete(EchoBackend, prompt).input_tokens == 2


# ---------------------------------------------------------------------------------------------
# OpenAI-compatible, against the fake


def test_a_chat_completion(fake: FakeChat) -> None:
    before = fake.requests
    completion = complete(openai_backend(fake), ask("Hi there", max_tokens=50, top_k=3))
    assert completion == Completion([text_block("echo: Hi there")], 2, 4, "end_turn")
    assert fake.requests == before + 1
    assert fake.bodies[-1] == {"model": "gpt-4o-mini", "max_tokens": 50,
                               "messages": [{"role": "user", "content": "Hi there"}]}


def test_the_configured_model_wins_over_the_records(fake: FakeChat) -> None:
    complete(openai_backend(fake, model="my-deployment"), ask("x"), "anthropic.claude-v2")
    assert fake.bodies[-1]["model"] == "my-deployment"


def test_length_and_tool_calls(fake: FakeChat) -> None:
    cut = complete(openai_backend(fake), ask("a long question", max_tokens=2))
    assert (cut.text, cut.stop_reason) == ("echo: a ", "max_tokens")
    called = complete(openai_backend(fake), ask("x", tools=TOOLS, tool_choice="time"))
    assert called.stop_reason == "tool_use"
    assert [(b["type"], b["name"], b["input"]) for b in called.content] == [
        ("tool_use", "time", {})]
    assert fake.bodies[-1]["tool_choice"] == {"type": "function", "function": {"name": "time"}}


def test_many_at_once_share_the_pool(fake: FakeChat) -> None:
    async def run() -> list[Completion]:
        backend = OpenAICompatibleBackend(fake.url + "/v1")
        try:
            return await asyncio.gather(*(backend.complete("m", ask(f"q{i}"))
                                          for i in range(200)))
        finally:
            await backend.aclose()
    assert [c.text for c in asyncio.run(run())] == [f"echo: q{i}" for i in range(200)]


def test_throttling_and_failures_are_retried(sleeps: list[float]) -> None:
    with FakeChat(fail_every=2) as fake:  # every other request fails: 429, then 500, ...
        async def run() -> list[str]:
            backend = OpenAICompatibleBackend(fake.url + "/v1")
            try:
                return [(await backend.complete("m", ask(str(i)))).text for i in range(3)]
            finally:
                await backend.aclose()
        assert asyncio.run(run()) == ["echo: 0", "echo: 1", "echo: 2"]
        assert (fake.requests, fake.failures) == (5, 2)
    assert sleeps[0] == 0  # the 429 said Retry-After: 0
    assert 0 <= sleeps[1] <= 0.5 * 2  # the 500 had no hint: jittered backoff


def test_a_refused_request_is_not_retried(sleeps: list[float]) -> None:
    with FakeChat(fail_every=1, fail_status=400) as fake:
        with pytest.raises(BackendError) as caught:
            complete(openai_backend(fake), ask("x"))
        assert fake.requests == 1
    assert (caught.value.code, sleeps) == (400, [])
    assert "fake failure 1" in caught.value.message


def test_throttling_that_never_ends_is_a_429(sleeps: list[float]) -> None:
    with FakeChat(fail_every=1, fail_status=429) as fake:
        with pytest.raises(BackendError) as caught:
            complete(openai_backend(fake, max_retries=3), ask("x"))
        assert fake.requests == 4
    assert caught.value.code == 429
    assert sleeps == [0, 0, 0]


def test_retry_after_is_honoured(sleeps: list[float]) -> None:
    with FakeChat(fail_every=2, fail_status=429, retry_after="0.05") as fake:
        complete(openai_backend(fake), ask("a"))
        complete(openai_backend(fake), ask("b"))
        assert fake.requests == 3
    assert sleeps == [0.05]


def test_the_api_key_is_sent() -> None:
    with FakeChat(require_key="sk-right") as fake:
        assert complete(openai_backend(fake, api_key="sk-right"), ask("x")).text == "echo: x"
        with pytest.raises(BackendError) as caught:
            complete(openai_backend(fake, api_key="sk-wrong"), ask("x"))
        with pytest.raises(BackendError):
            complete(openai_backend(fake), ask("x"))
    assert caught.value.code == 401
    assert "sk-wrong" not in str(caught.value)


def test_an_unreachable_upstream_is_a_503(sleeps: list[float]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    def backend() -> OpenAICompatibleBackend:
        return OpenAICompatibleBackend(f"http://127.0.0.1:{port}/v1", api_key="sk-secret",
                                       max_retries=2)

    with pytest.raises(BackendError) as caught:
        complete(backend, ask("x"))
    assert caught.value.code == 503
    assert len(sleeps) == 2
    assert "sk-secret" not in caught.value.message


def test_the_real_openai_sdk_talks_to_the_fake(fake: FakeChat) -> None:
    client = openai.OpenAI(base_url=fake.url + "/v1", api_key="k", max_retries=0)
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello SDK"}], max_tokens=50)
    assert answer.choices[0].message.content == "echo: Hello SDK"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.completion_tokens == 4
    called = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], tool_choice="required",
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    [call] = called.choices[0].message.tool_calls or []
    assert (call.function.name, json.loads(call.function.arguments)) == ("f", {})
    assert called.choices[0].finish_reason == "tool_calls"


# ---------------------------------------------------------------------------------------------
# Retry policy


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({}, None), ({"retry-after": "2"}, 2.0), ({"retry-after": "0"}, 0.0),
     ({"retry-after": "1.5"}, 1.5), ({"retry-after": "3600"}, 60.0),
     ({"retry-after": "-4"}, 0.0), ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
     ({"retry-after": "soon"}, None),
     ({"retry-after": formatdate(0, usegmt=True)}, 0.0),  # a date long past: no wait
     ({"retry-after": formatdate(4e9, usegmt=True)}, 60.0)],  # far ahead: the cap
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after(headers) == seconds


def test_retry_delay_is_full_jitter_when_the_upstream_gives_no_hint() -> None:
    for attempt in range(12):
        assert 0 <= retry_delay(attempt) <= min(20, 0.5 * 2 ** attempt)
        assert 0 <= retry_delay(attempt, {}) <= min(20, 0.5 * 2 ** attempt)
    assert retry_delay(5, {"retry-after": "3"}) == 3.0


# ---------------------------------------------------------------------------------------------
# Through a caller's aiohttp session, and against a tiny scripted upstream

HI = {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}


def upstream(answer: Callable[[Request], Response]) -> ServerThread:
    """A loopback server answering every chat completion with `answer(request)`; not started."""
    async def endpoint(request: Request) -> Response:
        return answer(request)
    return ServerThread(Starlette(routes=[Route("/v1/chat/completions", endpoint,
                                                methods=["POST"])]))


def test_a_callers_aiohttp_session_is_used() -> None:
    seen: list[Request] = []

    def answer(request: Request) -> Response:
        seen.append(request)
        return JSONResponse(HI)

    async def run(url: str) -> Completion:
        async with aiohttp.ClientSession(headers={"X-Caller": "mine"}) as session:
            backend = OpenAICompatibleBackend(url + "/v1", api_key="sk-1", session=session)
            try:
                return await backend.complete("gpt-4o-mini", ask("x"))
            finally:
                await backend.aclose()
                assert not session.closed  # the caller's session is the caller's to close

    with upstream(answer) as server:
        completion = asyncio.run(run(server.url))
    assert completion == Completion([text_block("hi")], 0, 0, "end_turn")
    assert str(seen[0].url) == f"{server.url}/v1/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer sk-1"
    assert seen[0].headers["x-caller"] == "mine"


def test_upstream_messages_never_carry_the_key() -> None:
    def answer(request: Request) -> Response:
        return JSONResponse({"error": {"message": "Incorrect API key: sk-secret"}}, 401)

    with upstream(answer) as server, pytest.raises(BackendError) as caught:
        complete(lambda: OpenAICompatibleBackend(server.url + "/v1", api_key="sk-secret"),
                 ask("x"))
    assert caught.value.code == 401
    assert caught.value.message == "upstream returned 401: Incorrect API key: ***"


def test_a_malformed_answer_is_a_500() -> None:
    def answer(request: Request) -> Response:
        return Response(b"<html>gateway</html>", media_type="text/html")

    with upstream(answer) as server, pytest.raises(BackendError) as caught:
        complete(lambda: OpenAICompatibleBackend(server.url + "/v1"), ask("x"))
    assert caught.value.code == 500


def test_connection_errors_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    server = upstream(lambda request: JSONResponse({"choices": [{"message": {"content": "ok"}}]}))
    delays: list[float] = []  # the port is picked but nobody listens on it yet

    async def wait(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 2:  # refused twice: now the upstream comes up
            await asyncio.to_thread(server.start)

    monkeypatch.setattr(openai_compatible, "sleep", wait)
    try:
        assert complete(lambda: OpenAICompatibleBackend(server.url + "/v1"), ask("x")).text == "ok"
    finally:
        server.stop()
    assert len(delays) == 2


# ---------------------------------------------------------------------------------------------
# The keep-alive pool against a scripted raw HTTP server

OK_BODY = json.dumps({"choices": [{"message": {"content": "raw"}, "finish_reason": "stop"}]})


def fixed(body: str = OK_BODY, extra: str = "") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def chunked(body: str = OK_BODY) -> bytes:
    half = len(body) // 2
    return ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            f"{half:x};ext=1\r\n{body[:half]}\r\n{len(body) - half:X}\r\n{body[half:]}\r\n"
            "0\r\nX-Trailer: yes\r\n\r\n").encode()


class RawServer:
    """Answers each request with the next scripted (response, close the connection after)."""

    def __init__(self, script: list[tuple[bytes, bool]]) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.url = ""

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.script:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                self.requests.append(head + await reader.readexactly(length))
                response, close = self.script.pop(0)
                writer.write(response)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def against(script: list[tuple[bytes, bool]], calls: int,
            **options: Any) -> tuple[RawServer, list[str]]:
    async def run() -> tuple[RawServer, list[str]]:
        async with RawServer(script) as server:
            backend = OpenAICompatibleBackend(server.url, **options)
            try:
                texts = [(await backend.complete("m", ask("x"))).text for _ in range(calls)]
            finally:
                await backend.aclose()
            return server, texts
    return asyncio.run(run())


def test_the_pool_reuses_connections_and_sends_one_well_formed_request() -> None:
    server, texts = against([(fixed(), False), (chunked(), False), (fixed(), False)], 3,
                            api_key="sk-1")
    assert (texts, server.connections) == (["raw"] * 3, 1)
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions HTTP/1.1"
    assert {"Content-Type: application/json", "Authorization: Bearer sk-1",
            f"Content-Length: {len(body)}"} <= set(lines)
    assert json.loads(body)["messages"] == [{"role": "user", "content": "x"}]


def test_https_and_bad_urls() -> None:
    async def run() -> None:
        await OpenAICompatibleBackend("https://api.openai.com/v1", api_key="k").aclose()
    asyncio.run(run())  # nothing is opened, nothing is sent
    with pytest.raises(ValueError, match="not an http"):
        OpenAICompatibleBackend("ftp://example.com/v1")


def test_connections_the_server_closes_are_replaced(sleeps: list[float]) -> None:
    script = [(fixed(extra="Connection: close\r\n"), True), (fixed(), False)]
    server, texts = against(script, 2)
    assert (texts, server.connections, sleeps) == (["raw"] * 2, 2, [])


def test_a_post_is_never_resent_without_a_backoff(sleeps: list[float]) -> None:
    # Closed without a word, the connection may be reused before the close is seen. The POST
    # then fails like any other connection error, and is retried through the backoff: resending
    # it at once could post a record twice, if the server had read it after all.
    server, texts = against([(fixed(), True), (fixed(), False)], 2)
    assert (texts, server.connections, len(server.requests)) == (["raw"] * 2, 2, 2)
    assert len(sleeps) <= 1


def test_a_body_without_length_runs_to_the_end_of_the_connection() -> None:
    response = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{OK_BODY}".encode()
    server, texts = against([(response, True), (fixed(), False)], 2)
    assert (texts, server.connections) == (["raw", "raw"], 2)


def test_a_garbled_answer_is_retried_then_a_503(sleeps: list[float]) -> None:
    server, texts = against([(b"HTTP/1.1 banana\r\n\r\n", True), (fixed(), False)], 1)
    assert (texts, len(sleeps), server.connections) == (["raw"], 1, 2)
    with pytest.raises(BackendError) as caught:
        against([(b"nonsense\r\n\r\n", True)] * 2, 1, max_retries=1)
    assert caught.value.code == 503


def test_a_silent_upstream_times_out(sleeps: list[float]) -> None:
    hung_up: list[asyncio.Event] = []

    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hung_up.append(done := asyncio.Event())
        await reader.read()  # until the client gives up and closes the connection
        writer.close()
        done.set()

    async def run() -> None:
        server = await asyncio.start_server(never, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        backend = OpenAICompatibleBackend(f"http://127.0.0.1:{port}/v1", timeout=0.05,
                                          max_retries=1)
        try:
            await backend.complete("m", ask("x"))
        finally:
            await backend.aclose()
            server.close()
            for event in hung_up:  # let the server see every hang-up before the loop ends
                await event.wait()

    with pytest.raises(BackendError) as caught:
        asyncio.run(run())
    assert caught.value.code == 503
    assert "no answer within 0.05 s" in caught.value.message
    assert len(sleeps) == 1
