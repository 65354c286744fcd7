"""Model families: the published tool each registered network follows and the commands that run it.

A family groups the networks of one method (its published network and cryoray's MONAI-built
relatives). :func:`catalogue` describes every network in the registry, each under its family;
a network that no family lists still appears, under its own name, so a newly registered network
is listed before anyone writes its family here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import TypeAdapter, ValidationError

from cryoray.models.config import ModelConfig
from cryoray.models.registry import MODEL_NAMES, build_model

__all__ = ["FAMILIES", "Family", "catalogue", "describe_network"]

#: commands that take any network of the registry
TRAINING_COMMANDS = ("train", "tune")
#: commands that run a bundle's regression head (an enhanced map)
ENHANCE_COMMANDS = ("enhance", "predict-batch", "serve", "benchmark")
#: commands that run a bundle's classification heads (probability maps, model building)
SEGMENT_COMMANDS = ("segment", "build-model", "predict-batch", "serve", "benchmark")


@dataclass(frozen=True)
class Family:
    """One method's networks.

    Args:
        name: the family's name (the method's, lower case).
        seed: the published tool it follows, with its paper.
        networks: registry names of its networks, the published one first.
        commands: ``cryoray`` commands that train or run them.
        summary: what the networks do, in a line.
        imported: networks whose published weights ``cryoray import-weights`` turns into bundles.
    """

    name: str
    seed: str
    networks: tuple[str, ...]
    commands: tuple[str, ...]
    summary: str
    imported: tuple[str, ...] = ()


FAMILIES: tuple[Family, ...] = (
    Family(
        "cryoten",
        "CryoTEN (Selvaraj et al. 2024)",
        ("cryoten", "unetrpp"),
        (*TRAINING_COMMANDS, *ENHANCE_COMMANDS),
        "map enhancement towards simulated maps: UNETR++ with efficient paired attention",
        imported=("cryoten",),
    ),
    Family(
        "cryo2struct",
        "Cryo2Struct (Giri & Cheng 2024)",
        ("cryo2struct", "unetr"),
        (*TRAINING_COMMANDS, *SEGMENT_COMMANDS),
        "atom and amino-acid classes per voxel (UNETR), then HMM sequence threading",
        imported=("cryo2struct",),
    ),
    Family(
        "cryo2struct2",
        "Cryo2Struct2 (Giri, dissertation 2025)",
        ("segformer3d",),
        (*TRAINING_COMMANDS, *SEGMENT_COMMANDS),
        "one SegFormer3D encoder, an atom head and an amino-acid head",
    ),
    Family(
        "cryores",
        "CryoRes (local resolution from one map)",
        ("cryores",),
        (*TRAINING_COMMANDS, "local-resolution"),
        "global resolution, relative local resolution and a molecular mask",
    ),
    Family(
        "cryosamu",
        "CryoSAMU (Zhang & Dao Duc)",
        ("cryosamu",),
        ("ingest", *TRAINING_COMMANDS, *ENHANCE_COMMANDS),
        "4-8 Å map enhancement; the bottleneck cross-attends to a per-entry structural embedding",
    ),
    Family(
        "struc2mapgan",
        "struc2mapGAN (Zhang, Condon & Dao Duc 2024)",
        ("struc2mapgan",),
        (*TRAINING_COMMANDS, "synthesize"),
        "experimental-like maps from atomic models: U-Net++ generator and 3D discriminator",
    ),
    Family(
        "baseline",
        "none: MONAI's residual U-Net (Kerfoot et al. 2018)",
        ("unet",),
        (*TRAINING_COMMANDS, *ENHANCE_COMMANDS, "segment", "build-model"),
        "a convolution-only U-Net; the shipped default:builder (Cα heatmap + residue types) and "
        "default:enhancer (residual) are two",
    ),
)


def describe_network(name: str) -> dict[str, object]:
    """A registered network at its default size: ``network``, ``heads`` (name -> channels), ``parameters``.

    Built on the meta device (no memory, no initialisation). A network whose bare name is not
    a complete config has ``heads`` and ``parameters`` None.
    """
    try:
        config = TypeAdapter(ModelConfig).validate_python({"name": name})
    except ValidationError:
        return {"network": name, "heads": None, "parameters": None}
    with torch.device("meta"):
        model = build_model(config)
    heads = getattr(model, "out_channels_by_head", {})
    return {"network": name, "heads": dict(heads), "parameters": sum(p.numel() for p in model.parameters())}


def catalogue() -> list[dict[str, object]]:
    """Every family with a registered network, then every registered network no family lists.

    Each item: ``family``, ``seed``, ``summary`` and ``networks`` (in the family's order, as
    :func:`describe_network` gives them, plus the ``commands`` that train or run each).
    """
    registered = set(MODEL_NAMES)
    claimed = {network for family in FAMILIES for network in family.networks}
    families = [f for f in FAMILIES if registered & set(f.networks)]
    families += [
        Family(name, "not stated", (name,), TRAINING_COMMANDS, "registered, no family entry yet")
        for name in MODEL_NAMES
        if name not in claimed
    ]
    return [
        {
            "family": family.name,
            "seed": family.seed,
            "summary": family.summary,
            "networks": [
                {**describe_network(n), "commands": [*family.commands, *(["import-weights"] * (n in family.imported))]}
                for n in family.networks
                if n in registered
            ],
        }
        for family in families
    ]
