"""An OpenAI batch survives its server: killed with SIGKILL mid-batch, the server comes back on
the same data directory and answers every request exactly once."""

from __future__ import annotations

import json
import signal
import time

import pytest
from bedrock_helpers import RESTART_MODEL, RESTART_RECORDS
from openai_helpers import chat_line, client, upload, wait
from test_batch_restart import StartServer, start_server  # noqa: F401 - fixture

from bifrost_py.testing import RunningServer

pytestmark = pytest.mark.every_store


def test_a_batch_killed_with_sigkill_midway_answers_every_request_once(
        start_server: StartServer) -> None:  # noqa: F811 - the fixture
    first = start_server()
    sdk = client(f"{first.url}/v1")
    lines = [chat_line(i, RESTART_MODEL) for i in range(RESTART_RECORDS)]
    batch = sdk.batches.create(input_file_id=upload(sdk, lines), endpoint="/v1/chat/completions",
                               completion_window="24h")
    wait(sdk, batch.id, frozenset({"in_progress"}))
    while (progress := sdk.batches.retrieve(batch.id)).request_counts.completed == 0:  # type: ignore[union-attr]
        time.sleep(0.05)
    assert progress.status == "in_progress"
    assert first.signal(signal.SIGKILL) == -signal.SIGKILL

    second = start_server()
    sdk = client(f"{second.url}/v1")
    done = wait(sdk, batch.id, timeout=60)
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed) == (RESTART_RECORDS,
                                                                          RESTART_RECORDS)
    output = [json.loads(line) for line in
              sdk.files.content(done.output_file_id or "").text.splitlines()]
    assert sorted(line["custom_id"] for line in output) == sorted(
        line["custom_id"] for line in lines)
    assert done.error_file_id is None


def test_the_mount_is_also_served_under_openai_v1(bifrost_server: RunningServer) -> None:
    sdk = client(f"{bifrost_server.url}/openai/v1")
    assert sdk.files.list().data is not None
