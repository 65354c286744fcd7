"""Model building (Cryo2Struct): Cα states from predicted maps, sequence threading through the
HMM, Cα models out, comparison with a reference model, and a Ray CPU actor pool for alignments.

Typical use::

    states = states_from_maps(ca_prob_map, aa_prob_maps)          # or read_states("states.npz")
    result = thread_chains(states, read_chains("seq.fasta"))
    write_model("model.cif", result)
"""

from __future__ import annotations

from cryoray.modelbuild.actors import AlignmentJob, AlignmentPool
from cryoray.modelbuild.candidates import candidates_from_maps, cluster_candidates, local_maxima, states_from_maps
from cryoray.modelbuild.chains import chains_from_records, read_chains
from cryoray.modelbuild.compare import ModelComparison, compare_models, match_ca
from cryoray.modelbuild.config import BuildConfig, CandidateConfig, ThreadingConfig
from cryoray.modelbuild.errors import ChainAssignmentError, ModelOutputError, StatesFormatError
from cryoray.modelbuild.hmm import HmmModel, build_hmm
from cryoray.modelbuild.output import model_structure, write_model
from cryoray.modelbuild.states import HmmStates, read_states, write_states
from cryoray.modelbuild.threading import ChainThreading, ThreadingResult, thread_chains, thread_model

__all__ = [
    "AlignmentJob",
    "AlignmentPool",
    "BuildConfig",
    "CandidateConfig",
    "ChainAssignmentError",
    "ChainThreading",
    "HmmModel",
    "HmmStates",
    "ModelComparison",
    "ModelOutputError",
    "StatesFormatError",
    "ThreadingConfig",
    "ThreadingResult",
    "build_hmm",
    "candidates_from_maps",
    "chains_from_records",
    "cluster_candidates",
    "compare_models",
    "local_maxima",
    "match_ca",
    "model_structure",
    "read_chains",
    "read_states",
    "states_from_maps",
    "thread_chains",
    "thread_model",
    "write_model",
    "write_states",
]
