"""Experimental-like maps from atomic models: simulate at a resolution, then struc2mapGAN's generator.

The model's atoms are simulated (CryoTEN eq. 1, :func:`cryoray.labels.simulate_map`) on the
output frame, the generator runs over it as over any map (:func:`predict_map`: the bundle's 1 Å
grid and tiling, the simulated density not normalised, as in training), and the result is put
back on the output frame, so it overlays that frame (or the ``--like`` map) exactly. Voxels
farther from every atom than the training targets' mask (6 Å by default) are set to 0, as the
targets were: the generator never saw boxes that far from a model, and what it makes there is noise.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryoray.errors import ModelPlacementError, ModelReferenceError
from cryoray.infer.channels import regression_channel
from cryoray.infer.config import InferConfig
from cryoray.infer.predictor import Predictor
from cryoray.infer.whole_map import MapPrediction, predict_map
from cryoray.io.density_map import DensityMap, GridFrame
from cryoray.io.models import AtomTable
from cryoray.labels.simulate import simulate_map
from cryoray.models.struc2mapgan import Struc2mapGANModel
from cryoray.preprocessing.config import MAX_MASK_RADIUS
from cryoray.preprocessing.masks import zone_mask

__all__ = ["MASK_RADIUS", "Synthesis", "check_generator", "synthesize_map"]

#: Å from the atoms within which the output is kept: the zone of the default training targets
#: (the store's ``denoise_class`` labels, ``denoise_radius`` 6 Å)
MASK_RADIUS = 6.0


@dataclass
class Synthesis:
    """What :func:`synthesize_map` made: the map, the plain simulation it started from, the prediction
    (:meth:`MapPrediction.on_source_frame` gives the generator's output before masking)."""

    density: DensityMap
    simulated: DensityMap
    prediction: MapPrediction


def check_generator(predictor: Predictor) -> None:
    """Refuse a network that is not a struc2mapGAN generator trained on unnormalised simulated maps.

    Raises:
        ModelReferenceError: another kind of network, or a bundle that normalises its input.
    """
    if not isinstance(predictor.model, Struc2mapGANModel):
        raise ModelReferenceError(
            predictor.name,
            f"is a {type(predictor.model).__name__} network, not a struc2mapGAN generator (train one with "
            "model struc2mapgan, e.g. the struc2mapgan.yaml example)",
        )
    if predictor.preprocessing is not None and predictor.preprocessing.normalize:
        raise ModelReferenceError(
            predictor.name,
            "its bundle normalises the input map; a struc2mapGAN bundle takes simulated maps as they are",
        )


def synthesize_map(
    atoms: AtomTable,
    frame: GridFrame,
    resolution: float,
    predictor: Predictor,
    config: InferConfig | None = None,
    *,
    mask_radius: float | None = MASK_RADIUS,
    source: object = "model",
) -> Synthesis:
    """The experimental-like map of ``atoms`` simulated at ``resolution`` Å, on ``frame``.

    ``mask_radius``: Å around the atoms where the output is kept (0 beyond); None keeps every voxel.

    Raises:
        ModelReferenceError: ``predictor`` is not a struc2mapGAN generator (:func:`check_generator`).
        ModelPlacementError: no atom lies inside ``frame``.
        ValueError: a resolution outside 0.5–50 Å, or a ``mask_radius`` outside (0, 20] Å.
    """
    check_generator(predictor)
    if mask_radius is not None and not 0 < mask_radius <= MAX_MASK_RADIUS:
        raise ValueError(f"`mask_radius` must be in (0, {MAX_MASK_RADIUS:g}] Å or None, got {mask_radius}")
    if not frame.contains(atoms.xyz).any():
        raise ModelPlacementError(source, "no atom lies inside the output grid (is the model placed in that map?)")
    simulated = simulate_map(atoms, frame, resolution)
    channel = regression_channel(predictor.spec)
    prediction = predict_map(simulated, predictor, config, heads=[channel.head], source=source)
    density = prediction.on_source_frame(channel.name)
    if mask_radius is not None:
        density = density.with_data(density.data * zone_mask(frame, atoms.xyz, mask_radius, allow_empty=True))
    return Synthesis(density, simulated, prediction)
