"""The example training configs shipped with the package (``cryoray/train/configs/``)."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from cryoray.config import validate_config
from cryoray.config.loading import load_config
from cryoray.train.config import TrainConfig
from cryoray.train.run import RunResult, run_training

__all__ = ["EXAMPLES", "example_config", "train_sample"]

#: example name -> what it trains
EXAMPLES = {
    "c2s_atoms_unetr": "Cryo2Struct atom classifier (UNETR, 32³)",
    "c2s_amino_unetr": "Cryo2Struct amino-acid classifier (UNETR, 32³)",
    "c2s2_segformer3d": "Cryo2Struct2 multi-task atoms + amino acids (SegFormer3D)",
    "cryoten_unetrpp": "CryoTEN map enhancement (UNETR++, 48³ crops of 64³)",
    "cryores": "CryoRes local resolution: global, relative and mask heads (needs a store with CryoRes labels)",
    "cryosamu": "CryoSAMU 4-8 Å map enhancement, structure-aware U-Net (needs a store with embeddings)",
    "struc2mapgan": "struc2mapGAN synthetic maps: U-Net++ generator + 3D discriminator (simulated -> experimental)",
    "builder_unet": "Cα heatmap + residue types, small U-Net: the default builder's recipe (beats density peaks)",
    "enhance_unet": "residual U-Net towards simulated maps: the default enhancer's recipe",
    "sample_atoms": "small UNETR atom classifier for the bundled sample on one CPU",
    "sample_building": "small SegFormer3D atoms + amino acids for the bundled sample on one CPU (main job)",
    "sample_enhance": "small U-Net map enhancement for the bundled sample on one CPU (main job)",
}


def example_config(name: str) -> Path:
    """Path of a shipped example config (copy it and edit, or use ``--set``)."""
    if name not in EXAMPLES:
        raise KeyError(f"no example config {name!r}; choose one of {', '.join(EXAMPLES)}")
    return Path(str(resources.files(__package__).joinpath("configs", f"{name}.yaml")))


def train_sample(store: Path, output: Path, *, example: str = "sample_atoms", epochs: int | None = None) -> RunResult:
    """Train a shipped ``example`` on the sample store into ``output/runs`` (replacing an earlier demo run)."""
    path = example_config(example)
    config = load_config(TrainConfig, path).model_dump()
    config["data"]["store"] = str(store)
    config["output"] = str(output / "runs")
    if epochs is not None:
        config["schedule"]["epochs"] = epochs
    shutil.rmtree(output / "runs" / config["name"], ignore_errors=True)
    return run_training(validate_config(TrainConfig, config, source=path), source=path)
