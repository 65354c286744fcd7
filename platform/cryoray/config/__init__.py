"""The one config system: YAML (or CLI flags) validated into frozen typed objects."""

from __future__ import annotations

from cryoray.config.loading import Section, config_with_overrides, load_config, load_config_with_sets, validate_config

__all__ = ["Section", "config_with_overrides", "load_config", "load_config_with_sets", "validate_config"]
