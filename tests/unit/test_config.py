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


def test_the_replicas_example_names_a_shared_database_and_bucket() -> None:
    config = load_config(Path(__file__).parents[2] / "deploy/replicas/config.toml",
                         env={"HOSTNAME": "replica-1", "BLOBS_KEY": "k", "BLOBS_SECRET": "s"})
    assert config.server.replica_id == "replica-1"
    assert config.store.database_url.startswith("postgresql://")
    assert (config.store.blobs, config.store.blobs_access_key_id) == (
        "s3://bifrost-blobs/bifrost/", "k")


@pytest.mark.parametrize(("toml", "message"), [
    ("[store]\ndatabase_url = 'mysql://db/x'", "store.database_url"),
    ("[store]\nblobs = '/var/blobs'", "store.blobs"),
    ("[server]\njob_lease_seconds = 1", "server.job_lease_seconds"),
    ("[server]\nreplica_id = 'a b'", "server.replica_id"),
])
def test_store_and_replica_settings_are_checked(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, toml))


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
    ("[[keys]]\naccess_key_id = 'AKIAEXAMPLE000000001'\nsecret_access_key = 's'\n"
     "tenant = 'a'\nproviders = ['openai']\n", "keys[0].providers"),
    ("[providers.openai-main]\napi_key = 'k'\n", "providers.openai-main.kind"),
    ("[providers.eu]\nkind = 'watsonx'\n", "providers.eu.kind"),
    ("[providers.local]\nkind = 'openai'\n", "providers.local.kind"),
    ("[providers.Main]\nkind = 'openai'\n", "providers.Main"),
    ("[providers.azure-eu]\nkind = 'azure'\n", "providers.azure-eu.base_url"),
    ("[providers.slow]\nkind = 'local'\nbackend = 'magic'\n", "providers.slow.backend"),
    ("[providers.slow]\nkind = 'local'\n[providers.slow.models.'x']\nconcurrency = 0\n",
     "providers.slow.models.x.concurrency"),
    ("[providers.eu]\nkind = 'openai'\nregion = 'x'\n", "providers.eu.region"),
    ("[providers.vertex]\nstaging_uri = 'gs://b/p/'\n", "providers.vertex.project"),
    ("[providers.vertex]\nproject = 'p'\nstaging_uri = 's3://b/'\n",
     "providers.vertex.staging_uri"),
    ("[prices]\n'gpt-*' = { input = -1.0, output = 2.0 }\n", "prices.gpt-*"),
    ("[prices]\n'gpt-*' = { input = 1.0 }\n", "prices.gpt-*"),
    ("[[webhooks]]\nurl = 'ftp://x'\nsecret = 's'\n", "webhooks[0].url"),
    ("[[webhooks]]\nurl = 'https://x'\n", "webhooks[0].secret"),
    ("[[webhooks]]\nurl = 'https://x'\nsecret = 's'\nevents = ['job.done']\n",
     "webhooks[0].events"),
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


def test_an_instance_kind_defaults_to_its_name(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[providers.openai]\n[providers.anthropic]\n"))
    assert config.configured_providers() == ("local", "openai", "anthropic")
    assert [config.providers.kind(name) for name in config.configured_providers()] == [
        "local", "openai", "anthropic"]


def test_named_instances_of_one_kind_side_by_side(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[server]
default_provider = "azure-eu"
[providers.azure-eu]
kind = "azure"
base_url = "https://eu.openai.azure.com"
[providers.azure-us]
kind = "azure"
base_url = "https://us.openai.azure.com"
api_version = "2025-01-01-preview"
[providers.slow-echo]
kind = "local"
latency_ms = 50
[models]
"m" = { azure-us = "us-deployment", azure = "any-deployment" }
[[keys]]
access_key_id = "AKIAEXAMPLE000000001"
secret_access_key = "s"
tenant = "eu"
providers = ["azure-eu"]
"""))
    eu, us = config.providers.instances["azure-eu"], config.providers.instances["azure-us"]
    assert (eu.kind, us.kind) == ("azure", "azure")
    assert config.providers.of_kind("local").keys() == {"local", "slow-echo"}
    assert config.model_name("m", "azure-us") == "us-deployment"
    assert config.model_name("m", "azure-eu") == "any-deployment"
    assert config.model_name("other", "azure-eu") == "other"
    assert config.keys[0].providers == ["azure-eu"]
