"""Shared fixtures: one real server per session (from the bifrost pytest plugin), clients on it."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bifrost_py.testing import RunningServer

# pytester runs a user's own suite against the plugin (test_pytest_fixture.py).
pytest_plugins = ["pytester"]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Property tests and fuzzers draw new examples on every run, from one seed per run (or
    $BIFROST_TEST_SEED): the report names it, and `--hypothesis-seed=<it>` repeats the run."""
    if config.getoption("hypothesis_seed") is None:
        config.option.hypothesis_seed = os.environ.get("BIFROST_TEST_SEED") or str(
            random.randrange(2**32))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    seed = config.getoption("hypothesis_seed")
    terminalreporter.write_line(f"hypothesis seed: {seed} (repeat this run's examples with "
                                f"--hypothesis-seed={seed})")

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIABIFROSTTEST00000",
               "AWS_SECRET_ACCESS_KEY": "bifrost-test-secret",
               "AWS_DEFAULT_REGION": "us-west-2"}


@pytest.fixture
def s3(bifrost_s3: Any) -> Any:
    return bifrost_s3


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh, empty bucket for one test."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


AwsCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def aws(bifrost_server: RunningServer, tmp_path: Any) -> AwsCli:
    """Run the real aws CLI against the server: aws("s3", "ls") -> CompletedProcess."""
    env = {**os.environ, **CREDENTIALS, "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull}

    def run(*args: str, check: bool = True, endpoint: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "awscli", "--endpoint-url",
               endpoint or bifrost_server.s3_url, *args]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                                cwd=tmp_path)
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    return run


@pytest.fixture
def fresh_server(tmp_path: Any) -> Iterator[RunningServer]:
    """A server of its own, for tests that need an empty store or their own settings."""
    with RunningServer(tmp_path / "data") as server:
        yield server
