"""The model bundle on disk: ``model.safetensors`` + ``bundle.json``, checked against its schema and weights.

``bundle.json`` (``storage_schemas/model_bundle.v1.schema.json``) holds the format and its
version, the network config (``name`` + constructor arguments), the heads, the preprocessing
the network expects, the provenance and the SHA-256 of ``model.safetensors``. Reading refuses
another format version, a file that breaks the schema and weights whose checksum differs, so a
bundle loads as written or not at all. Importing this module does not import torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import jsonschema

from cryoray import __version__
from cryoray.errors import ModelReferenceError
from cryoray.io.atomic import replace_into_place
from cryoray.preprocessing.tiling import Tiling

__all__ = [
    "BUNDLE",
    "CLASSIFICATION_PERCENTILE",
    "FORMAT",
    "FORMAT_VERSION",
    "REGRESSION_PERCENTILE",
    "WEIGHTS",
    "Bundle",
    "HeadSpec",
    "Preprocessing",
    "provenance",
    "read_bundle",
    "sha256_file",
    "write_bundle",
]

FORMAT = "cryoray-model-bundle"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
BUNDLE = "bundle.json"

#: normalisation percentiles of models that state none: only regression heads (CryoTEN, EMReady),
#: or some classification head (Cryo2Struct)
REGRESSION_PERCENTILE = 99.999
CLASSIFICATION_PERCENTILE = 95.0


@dataclass(frozen=True)
class HeadSpec:
    """One output of a network.

    Args:
        name: the head's name (the model's output key).
        channels: output channels.
        label: the store label the head was trained on (``atom``, ``simulated``, ...), if known.
        class_names: names of the classes in channel order (classification heads); None for
            regression heads.
    """

    name: str
    channels: int
    label: str | None = None
    class_names: tuple[str, ...] | None = None

    @property
    def classification(self) -> bool:
        return self.class_names is not None

    @property
    def activation(self) -> Literal["softmax", "none"]:
        """What turns the raw output into the head's values: softmax over classes, or nothing."""
        return "softmax" if self.classification else "none"

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "channels": self.channels,
            "label": self.label,
            "kind": "classification" if self.classification else "regression",
            "class_names": list(self.class_names) if self.class_names else None,
            "activation": self.activation,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: object = "head") -> HeadSpec:
        """A head as :meth:`to_dict` wrote it; class names and activation must agree with the channels."""
        names = tuple(data["class_names"]) if data.get("class_names") is not None else None
        head = cls(str(data["name"]), int(data["channels"]), data.get("label"), names)
        if names is not None and len(names) != head.channels:
            raise ModelReferenceError(
                source, f"head {head.name!r}: {len(names)} class names for {head.channels} channels"
            )
        if data.get("activation", head.activation) != head.activation:
            raise ModelReferenceError(
                source, f"head {head.name!r}: activation {data['activation']!r}; cryoray applies {head.activation!r}"
            )
        return head


@dataclass(frozen=True)
class Preprocessing:
    """What a network expects of its input maps, and how its box predictions are put together.

    Args:
        voxel_size: grid the network sees, in Å.
        percentile: percentile of the positive voxels that becomes 1.0 when normalising.
        normalize: divide by the percentile and clip to [0, 1] (False: the network saw raw values).
        tiling: how maps are cut (box, stride, kept core); None: by the network's box.
        blend: weights of overlapping boxes, ``constant`` (plain mean) or ``gaussian``.
        ca_threshold: P(Cα) above which a voxel is a model-building candidate; None: cryoray's default.
        cluster_radius: Å within which candidates are clustered; None: cryoray's default.
    """

    voxel_size: float = 1.0
    percentile: float = CLASSIFICATION_PERCENTILE
    normalize: bool = True
    tiling: Tiling | None = None
    blend: Literal["constant", "gaussian"] = "constant"
    ca_threshold: float | None = None
    cluster_radius: float | None = None

    @classmethod
    def assumed(cls, *, regression_only: bool) -> Preprocessing:
        """cryoray's defaults for a model that states nothing: 1 Å, 99.999th percentile for models
        with only regression heads (CryoTEN), else the 95th (Cryo2Struct), tiling by the box."""
        return cls(percentile=REGRESSION_PERCENTILE if regression_only else CLASSIFICATION_PERCENTILE)

    def describe(self) -> str:
        """One line for logs: ``1 Å voxels, 99.999th percentile, tiling by the box, constant blend``."""
        tiling = "tiling by the box" if self.tiling is None else f"{self.tiling.name} tiling"
        norm = f"{self.percentile:g}th percentile" if self.normalize else "not normalised"
        return f"{self.voxel_size:g} Å voxels, {norm}, {tiling}, {self.blend} blend"

    def to_dict(self) -> dict[str, object]:
        return {
            "voxel_size": self.voxel_size,
            "percentile": self.percentile,
            "normalize": self.normalize,
            "tiling": None if self.tiling is None else self.tiling.to_dict(),
            "blend": self.blend,
            "ca_threshold": self.ca_threshold,
            "cluster_radius": self.cluster_radius,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        tiling = data.get("tiling")
        return cls(**{**data, "tiling": None if tiling is None else Tiling(**tiling)})


def provenance(**what: object) -> dict[str, object]:
    """The provenance record: this cryoray's version, the time (UTC), and ``what`` made the bundle."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return {"cryoray_version": __version__, "created": created, **what}


@dataclass(frozen=True)
class Bundle:
    """A bundle's description (``bundle.json`` less its format fields).

    Args:
        network: the model config: ``name`` and the network's constructor arguments.
        heads: the network's outputs.
        preprocessing: what the network expects (see :class:`Preprocessing`).
        provenance: what made it (see :func:`provenance`).
        weights_sha256: SHA-256 of ``model.safetensors`` (set by :func:`write_bundle` / :func:`read_bundle`).
    """

    network: Mapping[str, Any]
    heads: Sequence[HeadSpec]
    preprocessing: Preprocessing
    provenance: Mapping[str, Any]
    weights_sha256: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "network": dict(self.network),
            "heads": [h.to_dict() for h in self.heads],
            "preprocessing": self.preprocessing.to_dict(),
            "provenance": dict(self.provenance),
            "weights": {"file": WEIGHTS, "sha256": self.weights_sha256},
        }


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_bundle(directory: str | os.PathLike, bundle: Bundle) -> Bundle:
    """Write ``bundle.json`` beside the ``model.safetensors`` already in ``directory`` (whole or not at all).

    Returns the bundle with the weights' SHA-256 it recorded.
    """
    directory = Path(directory)
    written = replace(bundle, weights_sha256=sha256_file(directory / WEIGHTS))
    text = json.dumps(written.to_dict(), indent=1) + "\n"
    _check(json.loads(text), directory)  # never write what reading would refuse
    fd, tmp = tempfile.mkstemp(prefix=".bundle-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    replace_into_place(tmp, directory / BUNDLE)
    return written


@cache
def _schema() -> dict:
    text = resources.files(__package__).joinpath("schemas", f"model_bundle.v{FORMAT_VERSION}.schema.json").read_text()
    return json.loads(text)


def _check(data: object, source: object) -> None:
    version = data.get("format_version") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelReferenceError(source, f"{BUNDLE} is not a {FORMAT} description")
    if version != FORMAT_VERSION:
        raise ModelReferenceError(
            source, f"{BUNDLE} format version {version} is not understood by this cryoray (knows {FORMAT_VERSION})"
        )
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(_schema()).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "<top>"
        raise ModelReferenceError(source, f"{BUNDLE} breaks format v{FORMAT_VERSION} at {where}: {error.message}")


def read_bundle(directory: str | os.PathLike) -> Bundle:
    """Read and check ``directory/bundle.json``, and the weights' SHA-256 against it.

    Raises:
        ModelReferenceError: unreadable or invalid ``bundle.json``, another format version, or
            weights whose checksum does not match.
    """
    directory = Path(directory)
    try:
        data = json.loads((directory / BUNDLE).read_text())
    except (OSError, ValueError) as exc:
        raise ModelReferenceError(directory, f"cannot read {BUNDLE}: {exc}") from exc
    _check(data, directory)
    expected = data["weights"]["sha256"]
    try:
        actual = sha256_file(directory / WEIGHTS)
    except OSError as exc:
        raise ModelReferenceError(directory, f"cannot read {WEIGHTS}: {exc}") from exc
    if actual != expected:
        raise ModelReferenceError(
            directory, f"{WEIGHTS}: checksum does not match {BUNDLE} (sha256 {actual}, expected {expected})"
        )
    try:
        preprocessing = Preprocessing.from_dict(data["preprocessing"])
    except ValueError as exc:  # a tiling the tiler cannot take
        raise ModelReferenceError(directory, f"{BUNDLE}: preprocessing: {exc}") from exc
    heads = tuple(HeadSpec.from_dict(h, source=directory) for h in data["heads"])
    return Bundle(data["network"], heads, preprocessing, data["provenance"], expected)
