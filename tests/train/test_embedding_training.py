"""Structure-aware training and inference (CryoSAMU): the store's embeddings reach the network, bundles use them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cryoray.bundle import read_bundle
from cryoray.cli.main import main
from cryoray.config import validate_config
from cryoray.data import read_subgrids
from cryoray.data.selection import plan_blocks
from cryoray.errors import ConfigError
from cryoray.infer import Predictor
from cryoray.io import read_map
from cryoray.store import SubgridStore
from cryoray.train import TrainConfig, plan_training, run_training
from tests.support.data import ENTRIES, real
from tests.support.embeddings import embedded_store
from tests.support.models import identity_predictor, tiny_model

SIMULATED = {"output": {"label": "simulated", "loss": {"terms": [{"kind": "masked_mse"}]}}}
MAP, MODEL = real(ENTRIES["EMD-3488"][0]), real(ENTRIES["EMD-3488"][1])


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return embedded_store(tmp_path_factory.mktemp("samu") / "samu.zarr")


def samu_config(store: Path, output: Path, **changes: object) -> dict:
    config = {
        "name": "samu",
        "output": str(output),
        "data": {"store": str(store), "holdout": "subgrids", "val_fraction": 0.2, "embedding": True},
        "model": tiny_model("cryosamu", embedding_dim=29),
        "targets": SIMULATED,
        "optimizer": {"name": "adam", "lr": 1e-3},
        "schedule": {"epochs": 1, "max_steps_per_epoch": 3},
        "batch_size": 4,
        "precision": "fp32",
    }
    for key, value in changes.items():
        section, _, field = key.partition("__")
        config[section] = {**config[section], field: value} if field else value
    return config


def test_the_reader_gives_every_box_its_entry_embedding(store, ray_local) -> None:
    opened = SubgridStore.open(store)
    blocks = plan_blocks(opened, "train", holdout="subgrids", val_fraction=0.2)
    rows = read_subgrids(str(store), blocks, ["input", "simulated"], embedding=True, augment=None).take_all()
    expected = opened.read_embedding("EMD-3488")
    assert len(rows) == sum(b.size for b in blocks)
    assert all(np.array_equal(row["embedding"], expected) for row in rows)
    assert rows[0]["input"].shape == (16, 16, 16)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"model__embedding_dim": 6}, "model.embedding_dim is 6 but the store's structure embeddings have 29"),
        ({"model": tiny_model("unet")}, "data.embedding: the unet model takes no embedding"),
    ],
    ids=["width", "no-embedding-input"],
)
def test_plans_refuse_embeddings_that_cannot_reach_the_network(store, tmp_path, changes, needle) -> None:
    config = validate_config(TrainConfig, samu_config(store, tmp_path, **changes), source="t.yaml")
    with pytest.raises(ConfigError, match=needle):
        plan_training(config, source="t.yaml")


def test_plans_refuse_a_store_without_embeddings(sample_store, tmp_path) -> None:
    config = samu_config(sample_store, tmp_path, model=tiny_model("cryosamu", img_size=32, embedding_dim=29))
    with pytest.raises(ConfigError, match="has no embeddings"):
        plan_training(validate_config(TrainConfig, config, source="t.yaml"), source="t.yaml")


@pytest.fixture(scope="module")
def trained(store, tmp_path_factory, ray_local) -> Path:
    output = tmp_path_factory.mktemp("samu-runs")
    config = validate_config(TrainConfig, samu_config(store, output), source="t.yaml")
    result = run_training(config, source="t.yaml", progress=False)
    assert result.metrics["step"] == 3 and np.isfinite(result.metrics["val/loss"])
    return Path(result.checkpoint)


def test_training_records_the_embedder_in_the_bundle(trained) -> None:
    store = read_bundle(trained).provenance["training"]["store"]
    assert store["embedding"] == {"name": "structure", "dim": 29}


def test_enhance_with_and_without_the_structure(trained, store, tmp_path, capsys) -> None:
    tiling = ["--tiling", "custom", "--box", "16", "--stride", "16"]
    np.save(tmp_path / "emb.npy", SubgridStore.open(store).read_embedding("EMD-3488"))
    outputs = {}
    for name, extra in {
        "none": [],
        "model": ["--embedding-model", str(MODEL)],
        "file": ["--embedding", str(tmp_path / "emb.npy")],
    }.items():
        out = tmp_path / f"{name}.mrc"
        assert main(["enhance", str(MAP), "-o", str(out), "--model", str(trained), *tiling, *extra, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        sources = {"none": "none", "model": f"structure of {MODEL}", "file": str(tmp_path / "emb.npy")}
        assert report["embedding"] == sources[name]
        outputs[name] = read_map(out).data
    assert not np.allclose(outputs["none"], outputs["model"])
    np.testing.assert_allclose(outputs["file"], outputs["model"], rtol=1e-5, atol=1e-6)


def test_enhance_refuses_embeddings_it_cannot_use(trained, enhance_checkpoint, tmp_path, capsys) -> None:
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros(5, np.float32))
    base = ["enhance", str(MAP), "-o", str(tmp_path / "x.mrc")]
    assert main([*base, "--model", str(trained), "--embedding", str(wrong)]) == 2
    assert "29 finite values" in capsys.readouterr().err
    assert main([*base, "--model", str(enhance_checkpoint), "--embedding-model", str(MODEL)]) == 2
    assert "records no training with embeddings" in capsys.readouterr().err


def test_a_predictor_of_a_network_without_embedding_input_refuses_one() -> None:
    predictor: Predictor = identity_predictor(16)
    assert predictor.embedding_dim is None
    with pytest.raises(ValueError, match="takes no embedding"):
        predictor.set_embedding(np.zeros(3))
