from __future__ import annotations

import re
from pathlib import Path

import pytest

from bifrost_py.config import ConfigError, load_config, parse_size


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    config = load_config()
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8080)
    assert config.server.default_provider == "local"
    assert config.providers.local.auto_create_buckets is True
    assert config.providers.local.max_object_size == 5 * 2**30


def test_the_shipped_example_runs_as_is() -> None:
    config = load_config(Path(__file__).parents[2] / "config.toml")
    assert config.server.region == "us-west-2"


def test_flags_override_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[server]\nport = 9000\nhost = '0.0.0.0'\n"),
                         {"port": 9100, "host": None})
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9100)


def test_env_references_are_interpolated(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[server]\ndata_dir = '${BASE}/data'\n"),
                         env={"BASE": "/srv"})
    assert config.server.data_dir == "/srv/data"


@pytest.mark.parametrize(("text", "named"), [
    ("[server]\nprot = 1\n", "server.prot"),
    ("[nope]\n", "nope"),
    ("[providers.local]\nauto_create_bucket = true\n", "providers.local.auto_create_bucket"),
    ("[server]\nport = 'eighty'\n", "server.port"),
    ("[server]\nport = 70000\n", "server.port"),
    ("[server]\ndefault_provider = 'azure'\n", "server.default_provider"),
    ("[server]\ndata_dir = '${BIFROST_UNSET_VARIABLE}'\n", "server.data_dir"),
    ("[providers.local]\nmax_object_size = 'lots'\n", "providers.local.max_object_size"),
    ("[providers.local]\nauto_create_buckets = 'yes'\n", "providers.local.auto_create_buckets"),
    ("[server]\naccount_id = '12'\n", "server.account_id"),
    ("server = 3\n", "server"),
    ("[server]\nmax_jobs_in_flight_per_tenant = -1\n", "server.max_jobs_in_flight_per_tenant"),
    ("[server]\nmax_records_per_job = -5\n", "server.max_records_per_job"),
    ("[[keys]]\naccess_key_id = 'AKIAEXAMPLE000000001'\nsecret_access_key = 's'\n"
     "tenant = 'team/a'\n", "keys[0].tenant"),
])
def test_bad_settings_stop_start_up_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config(write(tmp_path, text), env={})


def test_unreadable_toml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(write(tmp_path, "[server\n"))


@pytest.mark.parametrize(("value", "size"), [
    ("5GiB", 5 * 2**30), ("100 MB", 100 * 10**6), ("1KiB", 1024), (42, 42), ("7", 7),
])
def test_sizes(value: int | str, size: int) -> None:
    assert parse_size(value, "k") == size
