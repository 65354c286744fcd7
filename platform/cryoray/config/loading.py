"""Validated configs: pydantic models that refuse unknown keys, loaded from YAML or dicts.

Every validation problem becomes a :class:`~cryoray.errors.ConfigError` whose source is the
file (or ``--flags``) and whose reason names the dotted key, e.g.
``run.yaml: prepare.voxel_size: Input should be greater than 0``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TypeVar

import pydantic
import yaml

from cryoray.errors import ConfigError
from cryoray.io.sources import read_text

__all__ = ["Section", "config_with_overrides", "load_config", "load_config_with_sets", "validate_config"]

MAX_CONFIG_BYTES = 1 << 20
C = TypeVar("C", bound="Section")


class Section(pydantic.BaseModel):
    """Base of every config section: frozen, unknown keys are errors."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


def _describe(error: Mapping, prefix: str) -> str:
    loc = ".".join(str(p) for p in (prefix, *error["loc"]) if p != "")
    return f"{loc or '<top>'}: {error['msg']}"


def validate_config(cls: type[C], data: object, *, source: object, prefix: str = "") -> C:
    """Build ``cls`` from plain data, turning validation errors into one ConfigError."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            source, f"expected a mapping of settings{f' under {prefix}' if prefix else ''}, got {type(data).__name__}"
        )
    try:
        return cls.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        problems = [_describe(e, prefix) for e in exc.errors()]
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ConfigError(source, "; ".join(problems[:3]) + more) from exc


def _read_yaml(path: str | os.PathLike) -> object:
    text = read_text(path, limit=MAX_CONFIG_BYTES, what="config file", corrupt=ConfigError)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(path, f"not valid YAML: {' '.join(str(exc).split())}") from exc


def load_config(cls: type[C], path: str | os.PathLike, *, section: str | None = None) -> C:
    """Load a YAML file (path or fsspec URL) into ``cls``, optionally from one top-level section."""
    data = _read_yaml(path)
    if section is not None:
        if not isinstance(data, Mapping) or section not in data:
            raise ConfigError(path, f"missing top-level section '{section}'")
        data = data[section]
    return validate_config(cls, data if data is not None else {}, source=path, prefix=section or "")


def config_with_overrides(
    cls: type[C], path: str | os.PathLike | None, section: str, overrides: Mapping[str, object]
) -> C:
    """Settings from ``section`` of the YAML file at ``path`` (if any), with ``overrides`` on top.

    ``overrides`` holds the command-line flags a user gave (None values are ignored), so a
    flag always wins over the file and the file over the defaults.
    """
    settings = load_config(cls, path, section=section).model_dump() if path else {}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    source = f"{path} + command-line options" if path else "command-line options"
    return validate_config(cls, settings, source=source)


def load_config_with_sets(cls: type[C], path: str | os.PathLike | None, sets: Sequence[str] = ()) -> C:
    """Load a whole-file config (or none: defaults) with ``--set dotted.key=value`` changes
    (values parsed as YAML).

    ``schedule.epochs=3`` or ``model.name=unet`` replace one setting; a key may create a
    missing section. Errors name the file plus the options.
    """
    data = _read_yaml(path) if path is not None else {}
    data = {} if data is None else data
    source = "--set options" if path is None else (f"{path} + --set options" if sets else path)
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping of settings, got {type(data).__name__}")
    for item in sets:
        key, eq, text = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(source, f"--set {item!r}: expected KEY=VALUE, e.g. schedule.epochs=3")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(source, f"--set {item!r}: value is not valid YAML") from exc
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(source, f"--set {item!r}: {part} is not a section")
        node[parts[-1]] = value
    return validate_config(cls, data, source=source)
