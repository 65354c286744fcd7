"""Per-entry structural embeddings: a fixed-size vector per atomic model, stored at ingest for CryoSAMU.

An :class:`Embedder` has a ``name``, a width ``dim`` and ``embed(model, atoms, sequences)``
returning a ``(dim,)`` float32 vector. Ingest picks one by name (:class:`EmbeddingConfig`):

- ``structure`` (built in, :class:`StructureEmbedder`): 29 features computed from the model in
  well under a second, listed in :data:`STRUCTURE_FEATURES`: the amino-acid composition of the
  modelled residues (20 fractions, ALA ... VAL), their secondary-structure fractions (coil, helix,
  strand; the model's annotations, else DSSP, as the ``secondary_structure`` labels), and six of
  size and shape from the Cα atoms: log10 of residues / 4, log10 of chains / 2, radius of
  gyration / 100 Å, the radius of gyration over a globular protein's of that length
  (2.2 · n^0.38 Å), and the square roots of the second and third principal moments over the first.
  It describes the whole entry, not the box: it tells the network what kind of protein it is
  looking at (an all-helix membrane protein, a β-rich domain), nothing about where.
- ``esm_if1`` (:class:`EsmIf1Embedder`): the paper's choice, ESM-IF1's encoder output averaged
  over the residues (512 features). It needs the ``fair-esm`` package (with its inverse-folding
  dependencies) and the weights file ``esm_if1_gvp4_t16_142M_UR50.pt`` on local disk
  (``options: {weights: PATH}``), reachable from every ingest worker. cryoray never downloads it,
  and refuses the config when either is missing. ESM distributes the weights as a pickle, which
  is loaded as ESM's own loader does (the only pickle cryoray opens, and only when asked to).
- ``package.module:factory``: any importable callable returning an :class:`Embedder`, called with
  the config's ``options``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gemmi
import numpy as np
from pydantic import Field

from cryoray.config import Section
from cryoray.errors import ConfigError, ModelFormatError
from cryoray.io.models import AtomicModel, AtomTable
from cryoray.io.sequences import AMINO_ACIDS, ChainSequence, one_letter
from cryoray.labels.secondary_structure import COIL, HELIX, STRAND, SecondaryStructureSource, secondary_structure

__all__ = [
    "ESM_IF1_DIM",
    "STRUCTURE_FEATURES",
    "Embedder",
    "EmbeddingConfig",
    "EsmIf1Embedder",
    "StructureEmbedder",
    "build_embedder",
    "embed_model",
    "embedding_settings",
]

#: amino acids in the order of ``AMINO_ACIDS`` (ARNDCQEGHILKMFPSTWYV), as the labels number them
_THREE_LETTER = ("ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE")
_THREE_LETTER += ("LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL")
#: the built-in embedder's features, in order
STRUCTURE_FEATURES: tuple[str, ...] = (
    *(f"fraction_{name}" for name in _THREE_LETTER),
    "fraction_coil",
    "fraction_helix",
    "fraction_strand",
    "log10_residues_over_4",
    "log10_chains_over_2",
    "radius_of_gyration_over_100A",
    "radius_of_gyration_over_globular",
    "principal_axis_ratio_2_1",
    "principal_axis_ratio_3_1",
)
#: width of ESM-IF1's encoder output
ESM_IF1_DIM = 512


@runtime_checkable
class Embedder(Protocol):
    """Turns an atomic model into a fixed-size vector.

    Attributes:
        name: what the store records (``structure``, ``esm_if1``, ...).
        dim: the vector's length.
    """

    name: str
    dim: int

    def embed(self, model: AtomicModel, atoms: AtomTable, sequences: Sequence[ChainSequence]) -> np.ndarray:
        """A ``(dim,)`` vector for the model; ``atoms`` is ``model.atoms()``, ``sequences`` the entry's."""
        ...


class StructureEmbedder:
    """The built-in embedder: composition, secondary structure, size and shape (see :data:`STRUCTURE_FEATURES`).

    Args:
        secondary_structure: where the secondary structure comes from (``auto``: the model's
            annotations, else DSSP). Defaults to ``auto``.
    """

    name = "structure"
    dim = len(STRUCTURE_FEATURES)

    def __init__(self, secondary_structure: SecondaryStructureSource = "auto") -> None:
        self.secondary_structure = secondary_structure

    def embed(self, model: AtomicModel, atoms: AtomTable, sequences: Sequence[ChainSequence]) -> np.ndarray:
        """The 29 features of the model's Cα atoms (``sequences`` are not used)."""
        ca = atoms.select(atoms.is_ca)
        if len(ca) < 3:
            raise ModelFormatError(model.source, f"an embedding needs at least 3 Cα atoms, the model has {len(ca)}")
        letters = np.array([one_letter(name) for name in ca.residue_name])
        composition = np.array([np.mean(letters == letter) for letter in AMINO_ACIDS])
        codes, _ = secondary_structure(model, self.secondary_structure)
        per_residue = np.array(
            [codes.get((c, int(n), i), COIL) for c, n, i in zip(ca.chain, ca.seq_id, ca.icode, strict=True)]
        )
        structure = np.array([np.mean(per_residue == code) for code in (COIL, HELIX, STRAND)])
        xyz = ca.xyz - ca.xyz.mean(axis=0)
        n = len(xyz)
        rg = float(np.sqrt((xyz**2).sum(axis=1).mean()))
        moments = np.sort(np.linalg.eigvalsh(np.cov(xyz.T)))[::-1].clip(min=0)
        shape = [
            np.log10(n) / 4,
            np.log10(len(set(ca.chain))) / 2,
            rg / 100,
            rg / (2.2 * n**0.38),
            np.sqrt(moments[1] / moments[0]),
            np.sqrt(moments[2] / moments[0]),
        ]
        return np.concatenate([composition, structure, shape]).astype(np.float32)


class EsmIf1Embedder:
    """ESM-IF1's encoder output averaged over every residue with a complete backbone (512 features).

    Chains are encoded one at a time (N, CA, C per residue; missing atoms as NaN, as ESM expects)
    and their residue outputs averaged together. Runs on CPU unless CUDA is available.

    Args:
        weights: local path of ``esm_if1_gvp4_t16_142M_UR50.pt`` (from ESM's release; never downloaded).

    Raises:
        ConfigError: no file at ``weights``, or the ``esm`` package is not installed.
    """

    name = "esm_if1"
    dim = ESM_IF1_DIM

    def __init__(self, weights: str | None = None) -> None:
        if weights is None or not Path(weights).is_file():
            raise ConfigError(
                "embedding.options.weights",
                f"ESM-IF1 weights not found at {weights!r}: download esm_if1_gvp4_t16_142M_UR50.pt from ESM's "
                "release yourself and give its local path (cryoray never downloads weights)",
            )
        try:
            importlib.import_module("esm.inverse_folding")
        except ImportError as exc:
            raise ConfigError(
                "embedding.name",
                f"esm_if1 needs the fair-esm package with its inverse-folding dependencies "
                f"(torch_geometric, torch_scatter, biotite): {exc}",
            ) from exc
        self.weights = str(weights)
        self._loaded: tuple[Any, Any] | None = None

    def _network(self) -> tuple[Any, Any]:
        """ESM-IF1 and its alphabet, loaded on first use and kept."""
        if self._loaded is None:
            import esm
            import torch

            network, alphabet = esm.pretrained.load_model_and_alphabet_local(self.weights)
            self._loaded = network.eval().to("cuda" if torch.cuda.is_available() else "cpu"), alphabet
        return self._loaded

    def embed(self, model: AtomicModel, atoms: AtomTable, sequences: Sequence[ChainSequence]) -> np.ndarray:
        """Mean of the per-residue encoder outputs over all chains (``atoms`` and ``sequences`` unused)."""
        import torch
        from esm.inverse_folding.util import get_encoder_output

        network, alphabet = self._network()
        outputs = []
        for chain in model.structure[0]:
            backbone = [
                [_position(residue, name) for name in ("N", "CA", "C")]
                for residue in chain
                if (info := gemmi.find_tabulated_residue(residue.name)) is not None and info.is_amino_acid()
            ]
            if backbone:
                with torch.no_grad():
                    outputs.append(get_encoder_output(network, alphabet, np.asarray(backbone, np.float32)).cpu())
        if not outputs:
            raise ModelFormatError(model.source, "ESM-IF1 needs amino-acid residues; the model has none")
        return torch.cat(outputs).mean(dim=0).numpy().astype(np.float32)


def _position(residue: gemmi.Residue, name: str) -> list[float]:
    atom = residue.find_atom(name, "*")
    return [np.nan] * 3 if atom is None else [atom.pos.x, atom.pos.y, atom.pos.z]


class EmbeddingConfig(Section):
    """Which embedder ingest runs for each entry.

    Args:
        name: ``structure`` (built in), ``esm_if1``, or ``package.module:factory`` (a callable
            returning an :class:`Embedder`).
        options: keyword arguments of the embedder (``structure``: ``secondary_structure``;
            ``esm_if1``: ``weights``).
    """

    name: str = "structure"
    options: dict[str, Any] = Field(default_factory=dict)


_BUILT_IN = {"structure": StructureEmbedder, "esm_if1": EsmIf1Embedder}


def _factory(name: str) -> Any:
    if name in _BUILT_IN:
        return _BUILT_IN[name]
    module, _, attribute = name.partition(":")
    if not module or not attribute:
        raise ConfigError(
            "embedding.name", f"unknown embedder {name!r}: use structure, esm_if1 or package.module:factory"
        )
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError("embedding.name", f"cannot import embedder {name!r}: {exc}") from exc


def build_embedder(config: EmbeddingConfig) -> Embedder:
    """The embedder ``config`` names, checked to have a name, a positive ``dim`` and ``embed``.

    Raises:
        ConfigError: an unknown or unimportable name, bad options, or missing weights.
    """
    factory = _factory(config.name)
    try:
        embedder = factory(**config.options)
    except TypeError as exc:
        raise ConfigError("embedding.options", f"{config.name}: {exc}") from exc
    dim = getattr(embedder, "dim", None)
    if not isinstance(embedder, Embedder) or not isinstance(dim, int) or dim < 1:
        raise ConfigError("embedding.name", f"{config.name} does not make an embedder (name, dim >= 1, embed())")
    return embedder


def embed_model(
    embedder: Embedder, model: AtomicModel, atoms: AtomTable, sequences: Sequence[ChainSequence]
) -> np.ndarray:
    """``embedder``'s vector for the model, checked: ``(dim,)``, finite, float32.

    Raises:
        ModelFormatError: the embedder returned something else (the entry is quarantined).
    """
    vector = np.asarray(embedder.embed(model, atoms, sequences), dtype=np.float32)
    if vector.shape != (embedder.dim,) or not np.isfinite(vector).all():
        raise ModelFormatError(
            model.source, f"embedder {embedder.name} gave a {vector.shape} vector, not {embedder.dim} finite values"
        )
    return vector


def embedding_settings(embedder: Embedder) -> Mapping[str, object]:
    """What a store records of its embedder: ``name`` and ``dim``."""
    return {"name": embedder.name, "dim": int(embedder.dim)}
