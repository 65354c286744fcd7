"""A network ready to predict batches of boxes: load once, call many times.

:class:`Predictor` is what every inference path shares (the CLI's whole-map prediction, Ray
Data batch inference, Serve replicas): build it from a model reference in the actor's
constructor, then call :meth:`Predictor.predict` with ``(N, 1, b, b, b)`` float32 boxes. It
returns one numpy array per head, ``(N, C, b, b, b)`` float32: class probabilities (softmax
over C) for classification heads, values for regression heads. Runs under
``torch.inference_mode()``, with bf16 autocast on CUDA unless told fp32.

Models load from a bundle (:mod:`cryoray.bundle`: weights checked against their SHA-256, the
preprocessing the network expects) or from an older checkpoint directory (``config.yaml``
beside the weights, no ``bundle.json``), which gets cryoray's default preprocessing with one
warning saying so.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pydantic
import torch
from safetensors import SafetensorError
from torch import nn

from cryoray.bundle import BUNDLE, Preprocessing, read_bundle
from cryoray.infer.errors import ModelReferenceError
from cryoray.infer.reference import read_checkpoint_config, resolve_reference
from cryoray.infer.spec import HeadSpec, ModelSpec
from cryoray.models import ModelConfig, build_model
from cryoray.train.checkpoints import load_weights
from cryoray.train.config import TargetConfig
from cryoray.train.targets import head_specs

__all__ = ["Predictor", "resolve_device"]
log = logging.getLogger(__name__)


def _validated(data: object, model: type, directory: Path, what: str) -> object:
    """``data`` validated as ``model`` (a pydantic type); errors name the file and the key."""
    try:
        return pydantic.TypeAdapter(model).validate_python(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ModelReferenceError(directory, f"{what}: {where}: {first['msg']}") from exc


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelReferenceError("infer.device", f"{device} was asked for but no CUDA device is available")
    return torch.device(device)


class Predictor:
    """A network on a device that predicts batches of boxes.

    Args:
        model: a network whose ``forward`` returns a dict head → ``(N, C, b, b, b)`` logits/values.
        heads: the heads to return (see :class:`HeadSpec`); classification heads are softmaxed.
        box: the box edge the network takes.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``auto`` (bf16 on CUDA, fp32 on CPU), ``bf16`` or ``fp32``.
        name: where the model came from (for reports).
        preprocessing: what the network expects (its bundle's); None: cryoray's defaults.
    """

    def __init__(
        self,
        model: nn.Module,
        heads: Mapping[str, HeadSpec],
        *,
        box: int,
        device: str = "auto",
        precision: str = "auto",
        name: str = "model",
        preprocessing: Preprocessing | None = None,
    ) -> None:
        if precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"`precision` must be auto, bf16 or fp32, got {precision!r}")
        self.device = resolve_device(device)
        self.heads = dict(heads)
        self.box = int(box)
        self.name = name
        self.preprocessing = preprocessing
        # bf16 autocast: by default on CUDA only; asked for explicitly it runs on CPU too
        self.autocast = precision == "bf16" or (precision == "auto" and self.device.type == "cuda")
        self.model = model.to(self.device).eval()
        #: the entry embedding passed with every box (see :meth:`set_embedding`), or None
        self.embedding: torch.Tensor | None = None
        #: seconds spent in :meth:`predict` (transfers + forward + softmax), for overhead reports
        self.forward_seconds = 0.0
        self.boxes_predicted = 0

    @classmethod
    def from_checkpoint(
        cls, directory: str | os.PathLike, *, device: str = "auto", precision: str = "auto"
    ) -> Predictor:
        """Build the network a bundle (or an older checkpoint directory) describes and load its weights.

        A bundle's weights must match its checksum; its heads and preprocessing come with the
        model (:attr:`spec`). A directory with ``config.yaml`` and no ``bundle.json`` loads with
        heads from the training targets and cryoray's default preprocessing, said in one warning.

        Raises:
            ModelReferenceError: a bundle or config that does not describe a model, weights that
                do not match the checksum or do not load into the network.
        """
        directory = Path(directory)
        if (directory / BUNDLE).is_file():
            bundle = read_bundle(directory)
            network, what = bundle.network, f"{BUNDLE}: network"
        else:
            bundle, data = None, read_checkpoint_config(directory)
            network, what = data["model"], "config.yaml: model"
            targets = _validated(data["targets"], dict[str, TargetConfig], directory, "config.yaml: targets")
        model_config = _validated(network, ModelConfig, directory, what)
        model = build_model(model_config)
        try:
            load_weights(directory, model)
        except (SafetensorError, RuntimeError, OSError) as exc:
            raise ModelReferenceError(
                directory, f"weights do not load into the {model_config.name} model: {exc}"
            ) from exc
        if bundle is None:
            heads = head_specs(model.out_channels_by_head, {name: t.label for name, t in targets.items()})
            regression = not any(h.classification for h in heads)
            log.warning(
                "%s: no %s: assuming the preprocessing of %s models (%s)",
                directory,
                BUNDLE,
                "regression" if regression else "classification",
                Preprocessing.assumed(regression_only=regression).describe(),
            )
        else:
            heads = tuple(bundle.heads)
            stated = {h.name: h.channels for h in heads}
            if stated != dict(model.out_channels_by_head):
                raise ModelReferenceError(
                    directory, f"{BUNDLE} heads {stated} differ from the network's {dict(model.out_channels_by_head)}"
                )
            tiling = bundle.preprocessing.tiling
            if tiling is not None and tiling.box != model_config.img_size:
                raise ModelReferenceError(
                    directory, f"{BUNDLE}: tiling box {tiling.box} but the network takes {model_config.img_size}³"
                )
        return cls(
            model,
            {h.name: h for h in heads},
            box=model_config.img_size,
            device=device,
            precision=precision,
            name=str(directory),
            preprocessing=None if bundle is None else bundle.preprocessing,
        )

    @classmethod
    def from_reference(
        cls,
        ref: str | os.PathLike,
        *,
        tracking_uri: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        device: str = "auto",
        precision: str = "auto",
    ) -> Predictor:
        """A checkpoint directory or an MLflow registered model (see :mod:`cryoray.infer.reference`)."""
        directory = resolve_reference(ref, tracking_uri=tracking_uri, cache_dir=cache_dir)
        predictor = cls.from_checkpoint(directory, device=device, precision=precision)
        predictor.name = os.fspath(ref)
        return predictor

    @property
    def spec(self) -> ModelSpec:
        """What the front ends need to know of this network (box, heads, preprocessing), without its weights."""
        return ModelSpec(
            name=self.name,
            box=self.box,
            heads=dict(self.heads),
            reference=self.name,
            parameters=sum(p.numel() for p in self.model.parameters()),
            preprocessing=self.preprocessing,
        )

    @property
    def embedding_dim(self) -> int | None:
        """Width of the structural embedding the network takes (CryoSAMU), or None if it takes none."""
        return getattr(self.model, "embedding_dim", None)

    def set_embedding(self, vector: np.ndarray | None) -> None:
        """Pass ``vector`` ``(embedding_dim,)`` with every box from now on (None: no embedding).

        Raises:
            ValueError: the network takes no embedding, or one of another width, or values are not finite.
        """
        if vector is None:
            self.embedding = None
            return
        vector = np.asarray(vector, dtype=np.float32)
        if self.embedding_dim is None:
            raise ValueError(f"{self.name}: this network takes no embedding")
        if vector.shape != (self.embedding_dim,) or not np.isfinite(vector).all():
            raise ValueError(
                f"{self.name}: the embedding must be {self.embedding_dim} finite values, got shape {vector.shape}"
            )
        self.embedding = torch.from_numpy(vector).to(self.device)[None]

    def predict(self, boxes: np.ndarray, *, raw: bool = False) -> dict[str, np.ndarray]:
        """Predict ``(N, 1, b, b, b)`` boxes → head → ``(N, C, b, b, b)`` float32 numpy arrays.

        ``raw``: the network's outputs before the heads' activations (logits, not probabilities).
        """
        boxes = np.asarray(boxes, dtype=np.float32)
        if boxes.ndim != 5 or boxes.shape[1] != 1 or boxes.shape[2:] != (self.box,) * 3:
            raise ValueError(f"boxes must be (N, 1, {self.box}, {self.box}, {self.box}), got {boxes.shape}")
        start = time.perf_counter()
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(boxes)).to(self.device, non_blocking=True)
            extra = {} if self.embedding is None else {"embedding": self.embedding.expand(len(x), -1)}
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                outputs = self.model(x, **extra)
            out = {}
            for name, head in self.heads.items():
                values = outputs[name].float()
                if head.activation == "softmax" and not raw:
                    values = torch.softmax(values, dim=1)
                out[name] = values.cpu().numpy()
        self.forward_seconds += time.perf_counter() - start
        self.boxes_predicted += len(boxes)
        return out
