"""Threading refuses inputs whose memory, estimated from the sizes, is above the configured limit."""

from __future__ import annotations

import re
import resource
import subprocess
import sys

import numpy as np
import pytest

from cryoray.config import validate_config
from cryoray.errors import ConfigError
from cryoray.modelbuild import HmmStates, ThreadingConfig, thread_chains, write_states
from cryoray.modelbuild.errors import ThreadingTooLargeError
from cryoray.modelbuild.threading import memory_needed

MEMORY_CAP = 3 << 29  # 1.5 GiB, as tests/test_bad_inputs.py


def walk_states(k: int, seed: int = 0) -> HmmStates:
    """``k`` states along a random walk of 3.8 Å steps, random amino-acid rows."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(size=(k, 3))
    steps *= 3.8 / np.linalg.norm(steps, axis=1, keepdims=True)
    return HmmStates.validated(np.cumsum(steps, axis=0), rng.dirichlet(np.ones(20), k), rng.uniform(0.5, 1, k))


def test_estimate_is_dominated_by_states_times_residues() -> None:
    states = walk_states(20_000)
    small, big = (memory_needed(states.xyz, [n], ThreadingConfig()) for n in (1000, 2000))
    assert big - small == pytest.approx(8 * 1000 * 20_000, rel=0.01)  # Viterbi back-pointers
    assert 3.5e8 < big < 4.5e8  # measured peak RSS growth: 400 MB
    assert memory_needed(states.xyz, [], ThreadingConfig()) == 0


def test_coincident_states_count_their_transition_graph() -> None:
    """States all at one point make every pair a neighbour: K² transitions, not K x residues."""
    xyz = np.zeros((20_000, 3))
    assert memory_needed(xyz, [10], ThreadingConfig()) > 96 * 20_000**2 * 0.99


def test_thread_chains_refuses_above_the_limit_naming_the_source() -> None:
    states = walk_states(5_000)
    config = ThreadingConfig(max_memory_gib=0.01)
    with pytest.raises(ThreadingTooLargeError, match=r"5000 states through chains of up to 1000 residues") as info:
        thread_chains(states, [("A", "A" * 1000), ("B", "G" * 10)], config, source="s.npz")
    message = str(info.value)
    assert message.startswith("s.npz: ") and "above the limit of 0.01 GiB" in message
    assert re.search(r"needs about 0\.0[4-9]\d? GiB", message)  # ~58 MB


@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan")])
def test_limit_is_validated(value) -> None:
    with pytest.raises(ConfigError, match="max_memory_gib"):
        validate_config(ThreadingConfig, {"max_memory_gib": value}, source="--max-memory-gib")


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def test_align_200k_states_by_5000_residues_exits_2_under_a_memory_cap(tmp_path) -> None:
    """The case that ended in a MemoryError inside the kernel: ~8 GiB needed, refused before building."""
    write_states(tmp_path / "states.npz", walk_states(200_000))
    fasta = tmp_path / "seq.fasta"
    fasta.write_text(">A\n" + "ACDEFGHIKLMNPQRSTVWY" * 250 + "\n")
    argv = ["align", str(tmp_path / "states.npz"), str(fasta), "-o", str(tmp_path / "m.cif")]
    result = subprocess.run(
        [sys.executable, "-m", "cryoray.cli.main", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_cap_memory,
    )
    lines = [line for line in result.stderr.splitlines() if " INFO " not in line]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"cryoray align: error: {tmp_path / 'states.npz'}: threading 200000 states")
    assert "chains of up to 5000 residues needs about 8." in lines[0] and "limit of 4 GiB" in lines[0]
    assert not (tmp_path / "m.cif").exists()
