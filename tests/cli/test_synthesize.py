"""`cryoray synthesize`: an experimental-like map on the model's frame or another map's, one-line errors with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cryoray.cli.main import main
from cryoray.io import read_map, read_map_header
from cryoray.io.models import read_model
from cryoray.labels.simulate import frame_around
from cryoray.models import build_model
from cryoray.train.checkpoints import TrainingState
from cryoray.train.gan import write_gan_bundle
from tests.support.data import REAL_MAPS, real
from tests.support.models import model_config, tiny_model, write_checkpoint

MODEL = str(real("EMD-3488_5ME2_haemoglobin/5me2.pdb"))
MAP = str(real(REAL_MAPS["3488"]))
TARGETS = {"output": {"label": "simulated", "loss": {"terms": [{"kind": "smooth_l1"}]}}}


@pytest.fixture(scope="module")
def gan_bundle(tmp_path_factory) -> Path:
    """A random-weight tiny struc2mapGAN on 32³ boxes, as a GAN checkpoint's bundle (input not normalised)."""
    section = tiny_model("struc2mapgan", img_size=32)
    directory = write_checkpoint(tmp_path_factory.mktemp("gan") / "ckpt", section, TARGETS)
    config = {"name": "test", "model": section, "targets": TARGETS}
    write_gan_bundle(directory, build_model(model_config(section)), config, TrainingState())
    return directory


def test_like_map_output_overlays_it(gan_bundle, tmp_path, capsys) -> None:
    out = tmp_path / "synthetic.mrc"
    argv = ["synthesize", MODEL, "-o", str(out), "--model", str(gan_bundle), "--resolution", "3.2", "--like", MAP]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    like = read_map_header(MAP).frame
    written = read_map(out)
    assert written.frame == like  # shape, voxel size and origin of the --like map
    assert report["frame"] == like.to_dict() and report["resolution"] == 3.2
    assert np.isfinite(written.data).all() and written.data.std() > 0


def test_default_frame_is_1A_around_the_model(gan_bundle, tmp_path, capsys) -> None:
    out = tmp_path / "synthetic.mrc"
    assert main(["synthesize", MODEL, "-o", str(out), "--model", str(gan_bundle), "--batch-size", "8"]) == 0
    assert read_map(out).frame == frame_around(read_model(MODEL).atoms(), 1.0, 10.0)


def test_output_is_zero_beyond_the_mask_radius_unless_asked(gan_bundle) -> None:
    """Beyond 6 Å of every atom the training targets were 0, so the output is; None keeps the generator's values."""
    from cryoray.infer.predictor import Predictor
    from cryoray.infer.synthesize import synthesize_map
    from cryoray.preprocessing.masks import zone_mask

    predictor = Predictor.from_reference(gan_bundle, device="cpu")
    atoms = read_model(MODEL).atoms()
    frame = read_map_header(MAP).frame
    masked = synthesize_map(atoms, frame, 3.2, predictor)
    near = zone_mask(frame, atoms.xyz, 6.0)
    assert (masked.density.data[~near] == 0).all() and (masked.density.data[near] != 0).any()
    whole = masked.prediction.on_source_frame("output")
    assert (whole.data[~near] != 0).any()  # the random generator's values far from the model
    np.testing.assert_array_equal(masked.density.data[near], whole.data[near])
    with pytest.raises(ValueError, match="mask_radius"):
        synthesize_map(atoms, frame, 3.2, predictor, mask_radius=0.0)


def test_generator_output_differs_from_the_plain_simulation(gan_bundle, tmp_path) -> None:
    """The map is the generator's, not the simulation passed through: a zeroed generator gives a constant map."""
    from cryoray.infer.predictor import Predictor
    from cryoray.infer.synthesize import synthesize_map

    predictor = Predictor.from_reference(gan_bundle, device="cpu")
    with torch.no_grad():
        for p in predictor.model.generator.final.parameters():
            p.zero_()
    atoms = read_model(MODEL).atoms()
    result = synthesize_map(atoms, read_map_header(MAP).frame, 3.2, predictor, mask_radius=None)
    assert np.allclose(result.density.data, 0.0, atol=1e-5)
    assert result.simulated.data.max() > 1.0  # the simulation itself was not empty


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--resolution", "0"], "--resolution: resolution must be a finite number"),
        (["--like", str(real(REAL_MAPS["21457-origin"]))], "no atom lies inside the output grid"),
        (["--padding", "-1"], "--padding: must be >= 0"),
        (["--mask-radius", "30"], "--mask-radius: must be from 0 to 20"),
    ],
    ids=["resolution", "model-outside-like-map", "padding", "mask-radius"],
)
def test_bad_input_exits_2_with_one_line(gan_bundle, tmp_path, capsys, extra, needle) -> None:
    argv = ["synthesize", MODEL, "-o", str(tmp_path / "x.mrc"), "--model", str(gan_bundle), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.mrc").exists()


def test_a_network_that_is_not_a_generator_is_refused(enhance_checkpoint, tmp_path, capsys) -> None:
    argv = ["synthesize", MODEL, "-o", str(tmp_path / "x.mrc"), "--model", str(enhance_checkpoint)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "not a struc2mapGAN generator" in err and len(err.strip().splitlines()) == 1


def test_model_reference_is_required(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["synthesize", MODEL, "-o", str(tmp_path / "x.mrc")])
    assert info.value.code == 2
    assert "--model" in capsys.readouterr().err
