"""Shared fixtures: one real server per session (from the bifrost pytest plugin), clients on it."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import pytest

from bifrost_py.store.postgres.db import PostgresDatabase
from bifrost_py.store.sql.database import Database
from bifrost_py.store.sqlite.db import Database as SqliteDatabase
from bifrost_py.testing import RunningServer
from tests.moto_s3 import blobs_toml, new_prefix
from tests.postgres import STORES, StoreToml, fresh_database

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

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `every_store` that reach `store_kind` (through the session's server, a
    fresh_server or `store_toml`) run once per store, against one session server per store."""
    if (metafunc.definition.get_closest_marker("every_store")
            and "store_kind" in metafunc.fixturenames):
        metafunc.parametrize("store_kind", STORES, indirect=True, scope="session")


@pytest.fixture(scope="session")
def store_kind(request: pytest.FixtureRequest) -> str:
    """The store the servers of this test run on: "sqlite" unless its module says otherwise."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def store_toml(store_kind: str) -> StoreToml:
    """`with store_toml() as toml:` the [store] table of a config.toml for a new server on this
    test's store: empty for SQLite (under data_dir); for PostgreSQL, a fresh database and blobs
    in the session's S3 bucket (moto) under a fresh prefix, as replicas are configured."""
    @contextmanager
    def postgres() -> Iterator[str]:
        with fresh_database() as url:
            yield f'\n[store]\ndatabase_url = "{url}"\n{blobs_toml(new_prefix())}'

    return postgres if store_kind == "postgres" else lambda: nullcontext("")


@pytest.fixture(scope="session")
def bifrost_config(store_toml: StoreToml,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path | None]:
    """The session's server: the built-in defaults, on the store its tests ask for."""
    with store_toml() as toml:
        if not toml:
            yield None
            return
        path = tmp_path_factory.mktemp("store-config") / "config.toml"
        path.write_text(toml, encoding="utf-8")
        yield path


@pytest.fixture(params=STORES)
def make_database(request: pytest.FixtureRequest,
                  tmp_path: Path) -> Iterator[Callable[[], Database]]:
    """Each call: a new handle, not yet open, on one database of the test's own, of each kind."""
    if request.param == "sqlite":
        yield lambda: SqliteDatabase(tmp_path / "db.sqlite3")
        return
    with fresh_database() as url:
        yield lambda: PostgresDatabase(url)


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
def fresh_server(tmp_path: Path, store_toml: StoreToml) -> Iterator[RunningServer]:
    """A server of its own, for tests that need an empty store or their own settings."""
    with store_toml() as toml:
        config = tmp_path / "config.toml"
        config.write_text(toml, encoding="utf-8")
        with RunningServer(tmp_path / "data", config if toml else None) as server:
            yield server
