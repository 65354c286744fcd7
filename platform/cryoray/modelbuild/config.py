"""Settings of model building: Cα candidates and clustering, and sequence threading."""

from __future__ import annotations

from typing import ClassVar

import pydantic

from cryoray.config import Section

__all__ = ["BuildConfig", "CandidateConfig", "ThreadingConfig"]


class CandidateConfig(Section):
    """Cα candidates from a Cα probability map and their clustering into HMM states.

    Unset (None) values are the model bundle's where inference decides them
    (:class:`cryoray.infer.Recipe`), else :attr:`THRESHOLD` and :attr:`CLUSTER_RADIUS`
    (:meth:`with_defaults`).

    Args:
        threshold: voxels with P(Cα) above this are candidates (Cryo2Struct: 0.4; for a heatmap
            decided by the model: :attr:`HEATMAP_THRESHOLD`).
        cluster_radius: candidates within this many Å of a cluster's leader join it
            (Cryo2Struct: 2 Å; Cryo2Struct2: 3 Å).
        local_maxima: keep only the voxels above the threshold that no face-, edge- or
            corner-neighbour exceeds. A regressed Cα heatmap is a blob ~2 Å wide around each Cα,
            and blobs merge where the network is unsure; clustered whole, one such region
            becomes several states 2 Å apart (on EMD-0093: 8,733 states for 1,980 residues).
            None: decided by the model (on for a heatmap head, off for a softmax P(Cα), whose
            voxels Cryo2Struct clusters whole).
    """

    #: Cryo2Struct's values, the defaults
    THRESHOLD: ClassVar[float] = 0.4
    CLUSTER_RADIUS: ClassVar[float] = 2.0
    #: the threshold for a regressed Cα heatmap's local maxima (model building decides by the Cα
    #: head, :class:`cryoray.infer.Recipe`): a peak 0.87 Å off the voxel grid reads 0.69 of its
    #: height, and a network unsure of a Cα halves its peak
    HEATMAP_THRESHOLD: ClassVar[float] = 0.3

    threshold: float | None = pydantic.Field(None, ge=0.0, lt=1.0)
    cluster_radius: float | None = pydantic.Field(None, gt=0.0, le=10.0)
    local_maxima: bool | None = None

    def with_defaults(self) -> CandidateConfig:
        """This config with unset values at the defaults (``local_maxima``: off, as for P(Cα))."""
        return CandidateConfig(
            threshold=self.THRESHOLD if self.threshold is None else self.threshold,
            cluster_radius=self.CLUSTER_RADIUS if self.cluster_radius is None else self.cluster_radius,
            local_maxima=bool(self.local_maxima),
        )


class ThreadingConfig(Section):
    """Sequence threading through the HMM (see :mod:`cryoray.modelbuild.threading`).

    Args:
        std_lambda: λ in σ = 0.03622304 × λ Å of the transition Gaussian (Cryo2Struct: 10).
        margin: residues on each side of a reused state that are re-solved together.
        window_conflicts: windows around reused states are re-solved only when there are at
            most this many per residue (beyond, the relaxed path is no guide and the beam
            search alone starts the polishing).
        max_iterations: subgradient iterations per group of re-solved windows.
        patience: a group stops after this many iterations without a better valid path.
        reserve: the search of a chain counts this many nats against each state on the
            relaxed best path (no-return Viterbi, states reusable) of a later chain, so early
            chains do not take what later ones need (0: strictly one chain after another).
            Reported scores never include it.
        corridor: a chain is searched over the free states within this many Å of its
            relaxed best path (0: over all free states; all are used anyway when the
            corridor holds fewer than 1.25 states per residue or more than half the free ones).
        window_radius: a re-solved window may use the free states within this many Å of its path.
        max_memory_gib: refuse inputs whose threading would need more memory than this (GiB),
            estimated from the sizes before any of it is allocated (see
            :func:`cryoray.modelbuild.threading.memory_needed`).
    """

    std_lambda: float = pydantic.Field(10.0, gt=0.0, le=100.0)
    margin: int = pydantic.Field(8, ge=1, le=200)
    window_conflicts: float = pydantic.Field(0.25, ge=0.0, le=1.0)
    max_iterations: int = pydantic.Field(60, ge=1, le=10000)
    patience: int = pydantic.Field(5, ge=1, le=10000)
    reserve: float = pydantic.Field(10.0, ge=0.0, le=1000.0)
    corridor: float = pydantic.Field(25.0, ge=0.0, le=1000.0)
    window_radius: float = pydantic.Field(20.0, gt=0.0, le=200.0)
    beam_width: int = pydantic.Field(256, ge=1, le=100000)
    beam_per_state: int = pydantic.Field(2, ge=1, le=1000)
    max_memory_gib: float = pydantic.Field(4.0, gt=0.0, le=4096.0)


class BuildConfig(Section):
    """Everything model building takes, namespaced as in a YAML ``build:`` section."""

    candidates: CandidateConfig = CandidateConfig()
    threading: ThreadingConfig = ThreadingConfig()
