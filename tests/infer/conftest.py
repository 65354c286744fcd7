"""Tiny random-weight checkpoints for inference tests (helpers: tests/support/models.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.models import write_enhance_checkpoint, write_segment_checkpoint


@pytest.fixture(scope="session")
def segformer_checkpoint(tmp_path_factory) -> Path:
    """A random-weight SegFormer3D on 32³ boxes with Cryo2Struct2's atom and amino-acid heads."""
    return write_segment_checkpoint(tmp_path_factory.mktemp("ckpt") / "segformer")


@pytest.fixture(scope="session")
def enhance_checkpoint(tmp_path_factory) -> Path:
    """A random-weight UNETR++ on 16³ boxes with one regression head onto the simulated map."""
    return write_enhance_checkpoint(tmp_path_factory.mktemp("ckpt") / "unetrpp")
