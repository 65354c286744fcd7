"""Model bundles: training writes them, loading checks them, older checkpoint directories still load,
and the recipe takes its defaults from them, recording what explicit settings override."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

from cryoray.bundle import BUNDLE, WEIGHTS, Preprocessing, read_bundle
from cryoray.errors import ConfigError, ModelReferenceError
from cryoray.infer import HeadSpec, InferConfig, ModelSpec, Predictor, Recipe
from cryoray.modelbuild import BuildConfig
from cryoray.models import build_model
from cryoray.preprocessing.tiling import PRESETS
from cryoray.train.checkpoints import TrainingState, save_checkpoint, store_preprocessing
from cryoray.train.targets import CLASS_NAMES
from tests.support.models import model_config, tiny_model

CRYOTEN_LIKE = Preprocessing(percentile=99.999, tiling=PRESETS["cryoten-eval"])
ATOM = HeadSpec("atom", 4, "atom", CLASS_NAMES["atom"])


def _spec(preprocessing: Preprocessing | None, box: int = 48, heads: dict | None = None) -> ModelSpec:
    return ModelSpec("m", box, heads or {"output": HeadSpec("output", 1, "simulated")}, preprocessing=preprocessing)


def _copy(checkpoint: Path, tmp_path: Path) -> Path:
    target = tmp_path / checkpoint.name
    shutil.copytree(checkpoint, target)
    return target


def test_training_checkpoints_are_bundles(segformer_checkpoint) -> None:
    bundle = read_bundle(segformer_checkpoint)
    # the whole network config (defaults included), not only the keys the run's YAML gave
    assert bundle.network["name"] == "segformer3d" and bundle.network["mlp_ratio"] == 4
    heads = {h.name: h for h in bundle.heads}
    assert heads["atom"] == HeadSpec("atom", 4, "atom", CLASS_NAMES["atom"])
    assert heads["amino_acid"].class_names == CLASS_NAMES["amino_acid"] and heads["atom"].activation == "softmax"
    # no store behind the test checkpoint: cryoray's default for classifiers, and the provenance says so
    assert bundle.preprocessing == Preprocessing.assumed(regression_only=False)
    assert "default" in bundle.provenance["training"]["preprocessing"]
    assert Predictor.from_checkpoint(segformer_checkpoint, device="cpu").spec.preprocessing == bundle.preprocessing


def test_save_checkpoint_records_the_store_and_the_run(tmp_path) -> None:
    section = tiny_model("unet", img_size=32)
    model = build_model(model_config(section))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    targets = {"output": {"label": "simulated", "loss": {"terms": [{"kind": "masked_mse"}]}}}
    store = {
        "url": "s3://bucket/store.zarr",
        "prepare": {"voxel_size": 1.0, "order": 3, "normalize": True, "percentile": 99.0, "mask": None},
        "tiling": PRESETS["c2s"].to_dict(),
    }
    training = {"mlflow_run_id": "abc", "tracking_uri": "sqlite:///runs/mlflow.db", "store": store}
    config = {"name": "enhance-run", "model": section, "targets": targets}
    save_checkpoint(
        tmp_path / "ckpt", model, optimizer, scheduler, TrainingState(step=5, epoch=1), config, training=training
    )
    bundle = read_bundle(tmp_path / "ckpt")
    assert bundle.preprocessing == Preprocessing(voxel_size=1.0, percentile=99.0, tiling=PRESETS["c2s"])
    run = bundle.provenance["training"]
    assert (run["run"], run["step"], run["mlflow_run_id"], run["store"]["url"]) == (
        "enhance-run",
        5,
        "abc",
        store["url"],
    )
    assert bundle.heads == (HeadSpec("output", 1, "simulated"),)
    # boxes cut for training at another size than the network's (random crops): tiling left to the box
    wide = {**store, "tiling": PRESETS["cryoten-train"].to_dict()}
    assert store_preprocessing(wide, 48, bundle.heads).tiling is None


def test_a_changed_byte_in_the_weights_is_refused(tmp_path, enhance_checkpoint) -> None:
    bundle = _copy(enhance_checkpoint, tmp_path)
    data = bytearray((bundle / WEIGHTS).read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(ModelReferenceError, match=r"checksum does not match bundle\.json"):
        Predictor.from_checkpoint(bundle, device="cpu")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format_version=2), "format version 2 is not understood"),
        (lambda d: d.update(format="something"), "not a cryoray-model-bundle"),
        (lambda d: d["preprocessing"].pop("percentile"), "breaks format v1 at preprocessing"),
        (lambda d: d["heads"][0].update(activation="softmax"), "activation 'softmax'; cryoray applies 'none'"),
        (lambda d: d["heads"][0].update(channels=2), "differ from the network's"),
        (lambda d: d["preprocessing"].update(tiling=PRESETS["c2s"].to_dict()), "tiling box 32"),
        (lambda d: d["network"].update(name="nonet"), "network: name"),
    ],
    ids=["version", "format", "schema", "activation", "heads", "tiling", "network"],
)
def test_bundle_json_is_checked(tmp_path, enhance_checkpoint, change, message) -> None:
    bundle = _copy(enhance_checkpoint, tmp_path)
    data = json.loads((bundle / BUNDLE).read_text())
    change(data)
    (bundle / BUNDLE).write_text(json.dumps(data))
    with pytest.raises(ModelReferenceError, match=message):
        Predictor.from_checkpoint(bundle, device="cpu")


def test_older_checkpoint_directory_loads_with_one_warning(tmp_path, enhance_checkpoint, caplog) -> None:
    old = _copy(enhance_checkpoint, tmp_path)
    (old / BUNDLE).unlink()
    with caplog.at_level(logging.WARNING):
        predictor = Predictor.from_checkpoint(old, device="cpu")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        f"{old}: no bundle.json: assuming the preprocessing of regression models "
        "(1 Å voxels, 99.999th percentile, tiling by the box, constant blend)"
    ]
    spec = predictor.spec
    assert spec.preprocessing is None and spec.heads["output"].label == "simulated"
    report = Recipe.for_models([spec], InferConfig()).report()
    assert set(report["preprocessing_from"].values()) == {"default"}
    assert report["preprocessing"]["percentile"] == 99.999


def test_recipe_takes_the_bundles_settings_and_records_overrides() -> None:
    recipe = Recipe.for_models([_spec(CRYOTEN_LIKE)], InferConfig())
    assert recipe.tiling == PRESETS["cryoten-eval"] and recipe.prepare.percentile == 99.999
    report = recipe.report()
    assert report["preprocessing_from"] == dict.fromkeys(
        ("voxel_size", "percentile", "tiling", "box", "stride", "core", "blend"), "bundle"
    )
    assert report["bundle_overridden"] == {}
    recipe = Recipe.for_models([_spec(CRYOTEN_LIKE)], InferConfig(percentile=90.0, stride=24, blend="gaussian"))
    assert recipe.prepare.percentile == 90.0 and (recipe.tiling.box, recipe.tiling.stride) == (48, 24)
    report = recipe.report()
    assert report["preprocessing"]["tiling"] == "custom" and report["preprocessing_from"]["box"] == "bundle"
    assert report["bundle_overridden"] == {
        "percentile": 99.999,
        "stride": 38,
        "tiling": "cryoten-eval",
        "blend": "constant",
    }
    # a whole tiling given replaces the bundle's box, stride and core
    report = Recipe.for_models([_spec(CRYOTEN_LIKE)], InferConfig(tiling="custom", box=48, stride=40)).report()
    assert report["preprocessing_from"]["core"] == "option" and report["bundle_overridden"]["core"] is None


def test_recipe_refuses_bundles_that_disagree_unless_told() -> None:
    specs = [_spec(CRYOTEN_LIKE), _spec(Preprocessing(percentile=95.0, tiling=PRESETS["cryoten-eval"]))]
    with pytest.raises(ConfigError, match=r"different percentile \(95.0, 99.999\)") as error:
        Recipe.for_models(specs, InferConfig())
    assert error.value.source == "infer.percentile"
    assert Recipe.for_models(specs, InferConfig(percentile=97.0)).prepare.percentile == 97.0


def test_recipe_candidates_and_normalisation_from_the_bundle() -> None:
    stated = Preprocessing(tiling=PRESETS["c2s"], ca_threshold=0.5, cluster_radius=3.0, normalize=False)
    spec = _spec(stated, 32, {"atom": ATOM})
    recipe = Recipe.for_models([spec], InferConfig(), build=BuildConfig())
    assert (recipe.build.candidates.threshold, recipe.build.candidates.cluster_radius) == (0.5, 3.0)
    assert not recipe.prepare.normalize and recipe.report()["preprocessing"]["percentile"] is None
    told = BuildConfig.model_validate({"candidates": {"threshold": 0.3}})
    recipe = Recipe.for_models([spec], InferConfig(percentile=95.0), build=told)
    assert (recipe.build.candidates.threshold, recipe.build.candidates.cluster_radius) == (0.3, 3.0)
    assert recipe.prepare.normalize and recipe.report()["bundle_overridden"] == {
        "percentile": 95.0,
        "ca_threshold": 0.5,
    }
    # a model that states nothing: Cryo2Struct's 0.4 and 2 Å
    plain = Recipe.for_models([_spec(None, 32, {"atom": ATOM})], InferConfig(), build=BuildConfig()).build
    assert (plain.candidates.threshold, plain.candidates.cluster_radius) == (0.4, 2.0)
    assert plain.candidates.local_maxima is False  # a softmax P(Cα): every voxel above the threshold


def test_recipe_takes_a_heatmaps_local_maxima() -> None:
    heatmap = HeadSpec("ca", 1, "ca_heatmap")
    recipe = Recipe.for_models([_spec(None, 32, {"ca": heatmap})], InferConfig(), build=BuildConfig())
    assert recipe.build.candidates.local_maxima is True and recipe.build.candidates.threshold == 0.3
    assert recipe.report()["preprocessing_from"]["ca_local_maxima"] == "default"
    # an atom head is found first, as build_channels takes it
    both = _spec(None, 32, {"atom": ATOM, "ca": heatmap})
    assert Recipe.for_models([both], InferConfig(), build=BuildConfig()).build.candidates.local_maxima is False
    told = BuildConfig.model_validate({"candidates": {"local_maxima": False}})
    recipe = Recipe.for_models([_spec(None, 32, {"ca": heatmap})], InferConfig(), build=told)
    assert recipe.build.candidates.local_maxima is False
    assert recipe.report()["preprocessing_from"]["ca_local_maxima"] == "option"
