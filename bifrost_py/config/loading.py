"""config.toml -> frozen dataclasses.

Every table is a dataclass; its fields are the only keys it accepts, so an unknown or mistyped key
stops start-up with a message that names it. String values may be `${ENV_VAR}` references.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from bifrost_py.config.checks import check
from bifrost_py.config.tables import (
    KINDS,
    ByteSize,
    Config,
    ConfigError,
    LocalConfig,
    ProviderConfig,
    ProvidersConfig,
)
from bifrost_py.domain.digits import decimal

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_INSTANCE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                env: typing.Mapping[str, str] | None = None) -> Config:
    """Read `path` (or nothing: all defaults), apply `overrides` to [server], validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
    if overrides:
        server = dict(raw.get("server", {}))
        server.update({k: v for k, v in overrides.items() if v is not None})
        raw["server"] = server
    config = _build(Config, raw, "", os.environ if env is None else env)
    check(config)
    return config


def parse_size(value: int | str, key: str) -> ByteSize:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return ByteSize(value)
    match = _SIZE.match(value) if isinstance(value, str) else None
    if not match:
        raise ConfigError(f"{key}: expected a size such as 5GiB or 1048576, got {value!r}")
    return ByteSize(int(match.group(1)) * _UNITS[(match.group(2) or "B").lower()])



def _build(cls: type, raw: Any, prefix: str, env: typing.Mapping[str, str]) -> Any:
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key {prefix}{unknown[0]} (allowed in {where}: "
                          f"{', '.join(fields)})")
    missing = [name for name, f in fields.items() if name not in raw
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where}: {missing[0]} is required")
    values = {name: _value(hints[name], raw[name], f"{prefix}{name}", env)
              for name in fields if name in raw}
    return cls(**values)


def _value(hint: Any, value: Any, key: str, env: typing.Mapping[str, str]) -> Any:
    if isinstance(value, str):
        value = _interpolate(value, key, env)
    if isinstance(hint, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list")
        item = typing.get_args(hint)[0]
        return [_value(item, v, f"{key}[{n}]", env) for n, v in enumerate(value)]
    if typing.get_origin(hint) is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table")
        item = typing.get_args(hint)[1]
        return {name: _value(item, v, f"{key}.{name}", env) for name, v in value.items()}
    if hint is ProvidersConfig:
        return _providers(value, key, env)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{key}.", env)  # type: ignore[arg-type]
    if hint is ByteSize:
        return parse_size(value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, str) and decimal(value.strip()):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported setting")


def _providers(raw: Any, key: str, env: typing.Mapping[str, str]) -> ProvidersConfig:
    """[providers.NAME] tables: each an instance of the kind its `kind` names, or its name."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a table")
    instances: dict[str, ProviderConfig] = {"local": LocalConfig(kind="local")}
    for name, table in raw.items():
        where = f"{key}.{name}"
        if not _INSTANCE_NAME.fullmatch(name):
            raise ConfigError(f"{where}: a provider's name is 1 to 63 lower-case letters, digits, "
                              "'.', '_' or '-'")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: expected a table")
        kind = table.get("kind", name)
        if kind not in KINDS:
            raise ConfigError(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)} (an "
                              "instance named other than its kind says which it is)")
        if name == "local" and kind != "local":
            raise ConfigError(f"{where}.kind: the instance named local is the embedded one")
        instances[name] = dataclasses.replace(_build(KINDS[kind], table, f"{where}.", env),
                                              kind=kind)
    return ProvidersConfig(instances)


def _interpolate(value: str, key: str, env: typing.Mapping[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"{key}: environment variable {name} is not set")
        return env[name]

    return _ENV_REF.sub(sub, value)
