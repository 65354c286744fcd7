"""The bundles shipped inside the package: found as ``default:NAME``, checked like any bundle, used
by ``build-model`` and ``enhance`` when no ``--model`` is given, each with a model card."""

from __future__ import annotations

import json

import pytest

from cryoray.bundle import read_bundle
from cryoray.bundle.defaults import MODEL_CARD, default_bundle, default_names
from cryoray.cli.main import main
from cryoray.infer.errors import ModelReferenceError
from cryoray.infer.reference import resolve_reference
from cryoray.io import read_map
from cryoray.io.models import read_model
from cryoray.modelbuild import compare_models
from cryoray.sample import haemoglobin


def test_shipped_bundles_are_small_checked_and_carry_their_card() -> None:
    assert default_names() == ["builder", "enhancer"]
    for name in default_names():
        directory = resolve_reference(f"default:{name}")
        assert directory == default_bundle(name)
        bundle = read_bundle(directory)  # checks the weights' SHA-256
        assert (directory / "model.safetensors").stat().st_size < 8 * 2**20
        assert bundle.provenance["held_out"] == "EMD-3488"  # the bundled sample is a map they never saw
        assert "EMD-3488" not in bundle.provenance["trained_on"]
        card = (directory / MODEL_CARD).read_text()
        assert "## Held-out numbers" in card and "## Limits" in card
    heads = {h.name: h.label for h in read_bundle(default_bundle("builder")).heads}
    assert heads == {"ca": "ca_heatmap", "amino_acid": "amino_acid"}
    with pytest.raises(ModelReferenceError, match="no shipped model 'nope'; shipped: builder, enhancer"):
        resolve_reference("default:nope")


def test_build_model_without_model_uses_the_default_builder_and_beats_density_peaks(tmp_path, capsys) -> None:
    """On the bundled sample (held out from the builder's training), better than the no-network yardstick."""
    entry = haemoglobin()
    built, peaks = tmp_path / "model.cif", tmp_path / "peaks.cif"
    assert main(["build-model", str(entry.map), str(entry.sequence), "-o", str(built), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["models"] == ["default:builder"]
    assert report["preprocessing_from"]["voxel_size"] == "bundle"
    assert main(["build-model", str(entry.map), str(entry.sequence), "-o", str(peaks), "--candidates", "peaks"]) == 0
    true = read_model(entry.model)
    network, baseline = compare_models(read_model(built), true), compare_models(read_model(peaks), true)
    assert network.ca_f1 >= baseline.ca_f1 + 0.05, (network.ca_f1, baseline.ca_f1)


def test_enhance_without_model_uses_the_default_enhancer_on_the_input_frame(tmp_path, capsys) -> None:
    entry = haemoglobin()
    out = tmp_path / "enhanced.mrc"
    assert main(["enhance", str(entry.map), "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "default:enhancer"
    density, enhanced = read_map(entry.map), read_map(out)
    assert enhanced.frame.same_as(density.frame, atol=1e-5) and enhanced.data.std() > 0
