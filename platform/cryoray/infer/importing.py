"""Published tools' checkpoints → model bundles: CryoTEN's ``cryoten.ckpt``, Cryo2Struct's two models.

The tools release PyTorch Lightning checkpoints. :func:`import_weights` reads one without pickle
(``torch.load(weights_only=True)``: a checkpoint that needs any other object is refused), takes
the network's settings from its ``hyper_parameters`` where they are and otherwise from the tensor
shapes (:func:`~cryoray.models.cryoten.cryoten_kwargs_from_state_dict`,
:func:`~cryoray.models.cryo2struct.cryo2struct_kwargs_from_checkpoint`), strips Lightning's
prefix, loads the weights strictly and writes a bundle whose preprocessing is the tool's own
convention (:data:`FORMATS`), so every front end runs the network the way the tool does. With
``check_io`` the bundle is run through the :class:`~cryoray.infer.Predictor` the front ends use
(CPU, fp32, raw outputs) on a reference input, and published only when it reproduces the
reference output. The bundle appears whole (a temporary folder, then a rename) or not at all.

Class order: Cryo2Struct labels atoms Cα=1, N=2, C=3 (0 background) and amino acids 1..20 (0
none) in the order ALA ARG ASN ASP CYS GLN GLU GLY HIS ILE LEU LYS MET PHE PRO SER THR TRP TYR
VAL; cryoray's labels (:data:`cryoray.train.targets.CLASS_NAMES`) are the same, so the channels
keep their meaning. (The Cryo2Struct dissertation fixes the atom codes and "20 numbers from 1 to
20" for amino acids without listing their order; the order above is Cryo2StructData's, as
``shared/reference/METHODS.md`` gives it.)
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import torch
from safetensors.torch import save_file

from cryoray.bundle import WEIGHTS, Bundle, HeadSpec, Preprocessing, provenance, sha256_file, write_bundle
from cryoray.errors import ConfigError, SourceError
from cryoray.infer.errors import ModelReferenceError
from cryoray.infer.predictor import Predictor
from cryoray.io.atomic import replace_folder_into_place
from cryoray.models import CryoTENConfig, ModelConfig, build_model
from cryoray.models.cryo2struct import cryo2struct_kwargs_from_checkpoint
from cryoray.models.cryoten import cryoten_kwargs_from_state_dict
from cryoray.preprocessing.tiling import PRESETS
from cryoray.train.targets import CLASS_NAMES

__all__ = ["CHECK_TOLERANCE", "FORMATS", "ImportReport", "PublishedFormat", "import_weights", "io_difference"]

#: largest max |difference| from the reference output an imported bundle may show (float32 rounding is ~1e-6)
CHECK_TOLERANCE = 1e-4


def _cryoten_network(hyper_parameters: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """CryoTEN's checkpoint keeps no network settings (its YAML does): from the shapes, unless hyper-parameters say."""
    given = {k: v for k, v in hyper_parameters.items() if k in CryoTENConfig.model_fields and k != "name"}
    return {"name": "cryoten", **cryoten_kwargs_from_state_dict(state), **given}


def _cryo2struct_network(hyper_parameters: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    return {"name": "cryo2struct", **cryo2struct_kwargs_from_checkpoint(hyper_parameters, state)}


@dataclass(frozen=True)
class PublishedFormat:
    """How one published tool's checkpoint becomes a bundle.

    Args:
        tool: the tool's name.
        prefix: Lightning's prefix of the network's tensor names (stripped).
        network: ``(hyper_parameters, state_dict)`` → model config (``name`` + arguments).
        head: the network's one output, as cryoray labels it.
        preprocessing: the tool's conventions.
    """

    tool: str
    prefix: str
    network: Callable[[Mapping[str, Any], Mapping[str, torch.Tensor]], dict[str, Any]]
    head: HeadSpec
    preprocessing: Preprocessing


#: Cryo2Struct: 95th percentile, 1 Å, 32³ boxes at stride 20 keeping the central 20³, softmax;
#: candidates P(Cα) > 0.4 clustered within 2 Å
_CRYO2STRUCT = Preprocessing(
    voxel_size=1.0, percentile=95.0, tiling=PRESETS["c2s"], blend="constant", ca_threshold=0.4, cluster_radius=2.0
)

#: The published checkpoints cryoray imports, by ``--format`` name.
FORMATS: dict[str, PublishedFormat] = {
    # 99.999th percentile, 1 Å, 48³ boxes at stride 38 (plus end-aligned ones), plain mean; the
    # network regresses the map simulated from the model
    "cryoten": PublishedFormat(
        "CryoTEN",
        "net.",
        _cryoten_network,
        HeadSpec("output", 1, "simulated"),
        Preprocessing(voxel_size=1.0, percentile=99.999, tiling=PRESETS["cryoten-eval"], blend="constant"),
    ),
    "cryo2struct-atom": PublishedFormat(
        "Cryo2Struct (atoms)",
        "model.",
        _cryo2struct_network,
        HeadSpec("output", 4, "atom", CLASS_NAMES["atom"]),
        _CRYO2STRUCT,
    ),
    "cryo2struct-amino": PublishedFormat(
        "Cryo2Struct (amino acids)",
        "model.",
        _cryo2struct_network,
        HeadSpec("output", 21, "amino_acid", CLASS_NAMES["amino_acid"]),
        _CRYO2STRUCT,
    ),
}


@dataclass(frozen=True)
class ImportReport:
    """What an import did: ``bundle`` is None when the check failed (nothing was written)."""

    format: str
    parameters: int
    bundle: str | None
    max_abs_diff: float | None

    @property
    def passed(self) -> bool:
        return self.max_abs_diff is None or self.max_abs_diff <= CHECK_TOLERANCE

    def to_dict(self) -> dict[str, object]:
        return {
            "format": self.format,
            "parameters": self.parameters,
            "bundle": self.bundle,
            "max_abs_diff": self.max_abs_diff,
        }


def read_lightning_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's contents, read with ``torch.load(weights_only=True)`` (tensors and plain values only).

    Raises:
        SourceError: no such file.
        ModelReferenceError: a checkpoint that needs pickle (any other object), or not a checkpoint.
    """
    if not path.is_file():
        raise SourceError(path, "no such checkpoint file")
    try:
        checkpoint = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        holds = f" (it holds {found.group(1)})" if found else ""
        raise ModelReferenceError(
            path,
            f"needs pickle to load{holds}: refused; cryoray reads checkpoints with torch.load(weights_only=True), "
            "tensors and plain values only",
        ) from None
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise ModelReferenceError(path, f"not a readable PyTorch checkpoint: {exc}") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise ModelReferenceError(path, "not a Lightning checkpoint (no `state_dict`)")
    return checkpoint


def _network_state(checkpoint: Mapping[str, Any], published: PublishedFormat, source: Path) -> dict[str, torch.Tensor]:
    state = checkpoint["state_dict"]
    strays = [k for k in state if not k.startswith(published.prefix) or not isinstance(state[k], torch.Tensor)]
    if strays:
        raise ModelReferenceError(
            source, f"not a {published.tool} checkpoint: tensors outside `{published.prefix}*`: {strays[:3]}"
        )
    return {k.removeprefix(published.prefix): v for k, v in state.items()}


def _publish(staging: Path, output: Path, overwrite: bool) -> None:
    """Rename the finished ``staging`` folder to ``output`` (refused over an existing one without ``overwrite``)."""
    if output.exists() and not overwrite:
        raise SourceError(output, "already exists (pass --overwrite to replace it)")
    replace_folder_into_place(staging, output)


def import_weights(
    source: str | os.PathLike,
    fmt: str,
    output: str | os.PathLike,
    *,
    check_io: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> ImportReport:
    """Make the bundle ``output`` from the published checkpoint ``source`` of format ``fmt`` (:data:`FORMATS`).

    ``check_io``: an ``.npz`` with ``input`` boxes and the reference ``output``; the bundle is
    published only when its raw output is within :data:`CHECK_TOLERANCE` of it.

    Raises:
        ConfigError: an unknown format.
        SourceError: a missing checkpoint or check file, or ``output`` existing (without ``overwrite``).
        ModelReferenceError: a checkpoint that needs pickle, or whose tensors do not make the
            format's network.
    """
    if fmt not in FORMATS:
        raise ConfigError("--format", f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    published, source, output = FORMATS[fmt], Path(source), Path(output)
    if output.exists() and not overwrite:
        raise SourceError(output, "already exists (pass --overwrite to replace it)")
    checkpoint = read_lightning_checkpoint(source)
    state = _network_state(checkpoint, published, source)
    hyper_parameters = checkpoint.get("hyper_parameters") or {}
    try:
        network = pydantic.TypeAdapter(ModelConfig).validate_python(published.network(hyper_parameters, state))
    except (ValueError, pydantic.ValidationError) as exc:
        raise ModelReferenceError(source, f"not a {published.tool} checkpoint: {exc}") from None
    model = build_model(network)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelReferenceError(source, f"weights do not load into the {network.name} network: {exc}") from None
    channels = model.out_channels_by_head[published.head.name]
    if channels != published.head.channels:
        raise ModelReferenceError(
            source, f"the network has {channels} output channels; {fmt} models have {published.head.channels}"
        )
    origin = {
        "format": fmt,
        "tool": published.tool,
        "path": str(source.resolve()),
        "sha256": sha256_file(source),
        "lightning_version": checkpoint.get("pytorch-lightning_version"),
        "epoch": checkpoint.get("epoch"),
        "global_step": checkpoint.get("global_step"),
        "hyper_parameters": json.loads(json.dumps(hyper_parameters, default=str)),
    }
    network_dict = network.model_dump(mode="json")
    bundle = Bundle(network_dict, (published.head,), published.preprocessing, provenance(source=origin))
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.import-", dir=output.parent))
    try:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, staging / WEIGHTS)
        write_bundle(staging, bundle)
        difference = None if check_io is None else io_difference(staging, check_io)
        report = ImportReport(fmt, sum(p.numel() for p in model.parameters()), None, difference)
        if report.passed:
            _publish(staging, output, overwrite)
            report = ImportReport(fmt, report.parameters, str(output), difference)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _reference_io(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``input`` and ``output`` of a reference ``.npz`` (no pickle)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return np.asarray(npz["input"], np.float32), np.asarray(npz["output"], np.float32)
    except KeyError as exc:
        raise SourceError(path, f"needs arrays `input` and `output`: {exc}") from None
    except (OSError, ValueError, EOFError) as exc:
        raise SourceError(path, f"not a readable .npz file: {exc}") from None


def io_difference(bundle: str | os.PathLike, io_npz: str | os.PathLike) -> float:
    """Max |raw output − reference output| of the bundle on the reference input (CPU, fp32, before activations).

    Raises:
        SourceError: an unreadable ``.npz``, or arrays whose shapes do not fit the network.
    """
    inputs, expected = _reference_io(Path(io_npz))
    predictor = Predictor.from_checkpoint(bundle, device="cpu", precision="fp32")
    (head,) = predictor.heads
    try:
        values = predictor.predict(inputs, raw=True)[head]
    except ValueError as exc:
        raise SourceError(io_npz, f"`input`: {exc}") from None
    if values.shape != expected.shape:
        raise SourceError(io_npz, f"`output` is {expected.shape}; the network gives {values.shape}")
    return float(np.abs(values - expected).max())
