"""Settings of model building: Cα candidates and clustering, and sequence threading."""

from __future__ import annotations

import pydantic

from cryoray.config import Section

__all__ = ["BuildConfig", "CandidateConfig", "ThreadingConfig"]


class CandidateConfig(Section):
    """Cα candidates from a Cα probability map and their clustering into HMM states.

    Args:
        threshold: voxels with P(Cα) above this are candidates (Cryo2Struct: 0.4).
        cluster_radius: candidates within this many Å of a cluster's leader join it
            (Cryo2Struct: 2 Å; Cryo2Struct2: 3 Å).
    """

    threshold: float = pydantic.Field(0.4, ge=0.0, lt=1.0)
    cluster_radius: float = pydantic.Field(2.0, gt=0.0, le=10.0)


class ThreadingConfig(Section):
    """Sequence threading through the HMM (see :mod:`cryoray.build.threading`).

    Args:
        std_lambda: λ in σ = 0.03622304 × λ Å of the transition Gaussian (Cryo2Struct: 10).
        margin: residues on each side of a reused state that are re-solved together.
        max_iterations: subgradient iterations per group of re-solved windows.
        rounds: times the whole chain is decoded again with the learnt penalties (each
            also tightens the reported upper bound); 0 skips it.
        history: states of its recent path each survivor checks in the whole-chain survivor search.
        window_radius: a re-solved window may use the free states within this many Å of its path.
    """

    std_lambda: float = pydantic.Field(10.0, gt=0.0, le=100.0)
    margin: int = pydantic.Field(8, ge=1, le=200)
    max_iterations: int = pydantic.Field(60, ge=1, le=10000)
    rounds: int = pydantic.Field(1, ge=0, le=20)
    history: int = pydantic.Field(48, ge=2, le=100000)
    window_radius: float = pydantic.Field(20.0, gt=0.0, le=200.0)
    beam_width: int = pydantic.Field(256, ge=1, le=100000)
    beam_per_state: int = pydantic.Field(2, ge=1, le=1000)


class BuildConfig(Section):
    """Everything model building takes, namespaced as in a YAML ``build:`` section."""

    candidates: CandidateConfig = CandidateConfig()
    threading: ThreadingConfig = ThreadingConfig()
