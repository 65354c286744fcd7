"""The inference core every front end shares: channel choice, the recipe, candidates → states, from specs."""

from __future__ import annotations

import numpy as np
import pytest

from cryoray.errors import ConfigError
from cryoray.infer import HeadSpec, InferConfig, ModelSpec, Recipe
from cryoray.infer.candidates import candidate_sink, clustered_states
from cryoray.infer.channels import (
    build_channels,
    output_channels,
    regression_channel,
    segment_channels,
    stack_channels,
)
from cryoray.io import GridFrame
from cryoray.modelbuild import BuildConfig, StatesFormatError
from cryoray.train.targets import CLASS_NAMES

ATOM = HeadSpec("atom", 4, "atom", CLASS_NAMES["atom"])
AMINO = HeadSpec("amino_acid", 21, "amino_acid", CLASS_NAMES["amino_acid"])
C2S2 = ModelSpec("c2s2", 32, {"atom": ATOM, "amino_acid": AMINO})
CRYOTEN = ModelSpec("cryoten", 48, {"output": HeadSpec("output", 1, "simulated")})
TWO_OUTPUTS = ModelSpec("two", 48, {"a": HeadSpec("a", 1), "b": HeadSpec("b", 1)})


def test_regression_channel_picks_the_only_head_or_the_named_one() -> None:
    assert regression_channel(CRYOTEN).name == "output"
    assert regression_channel(TWO_OUTPUTS, "b").head == "b"
    with pytest.raises(ConfigError, match="no regression head") as error:
        regression_channel(C2S2)
    assert error.value.source == "model"  # a config key, not a command-line flag
    with pytest.raises(ConfigError, match="several regression heads") as error:
        regression_channel(TWO_OUTPUTS)
    with pytest.raises(ConfigError, match="no regression head 'atom'") as error:
        regression_channel(C2S2, "atom")
    assert error.value.source == "head"


def test_segment_channels_are_the_classes_of_classification_heads() -> None:
    assert [c.name for c in segment_channels(C2S2, ["atom"])] == ["atom_background", "atom_CA", "atom_N", "atom_C"]
    assert len(segment_channels(C2S2)) == 4 + 21
    with pytest.raises(ConfigError, match="no classification head") as error:
        segment_channels(CRYOTEN)
    assert error.value.source == "heads"
    with pytest.raises(ConfigError, match="unknown head"):
        segment_channels(C2S2, ["nope"])


def test_build_channels_from_one_model_or_two() -> None:
    channels = build_channels([C2S2])
    assert channels[0].name == "atom_CA" and [c.channel for c in channels[1:]] == list(range(1, 21))
    atoms = ModelSpec("atoms", 32, {"atom": ATOM})
    amino = ModelSpec("amino", 32, {"amino_acid": AMINO})
    assert [c.predictor for c in build_channels([atoms, amino])] == [0] + [1] * 20
    with pytest.raises(ConfigError, match=r"heads trained on \['amino_acid'\]") as error:
        build_channels([atoms])
    assert error.value.source == "models" and "--" not in error.value.reason


def test_build_channels_take_a_ca_heatmap_head_as_the_ca_score() -> None:
    builder = ModelSpec(
        "builder", 32, {"ca": HeadSpec("ca", 1, "ca_heatmap"), "amino_acid": AMINO}
    )  # a regression head: its values are the heatmap itself, no activation
    channels = build_channels([builder])
    assert (channels[0].head, channels[0].channel, channels[0].classification) == ("ca", 0, False)
    assert [c.channel for c in channels[1:]] == list(range(1, 21))
    bad = ModelSpec("bad", 32, {"ca": HeadSpec("ca", 2, "ca_heatmap"), "amino_acid": AMINO})
    with pytest.raises(ConfigError, match="ca_heatmap head needs 1 channel"):
        build_channels([bad])
    with pytest.raises(ConfigError, match=r"\['atom or ca_heatmap'\]"):
        build_channels([ModelSpec("amino", 32, {"amino_acid": AMINO})])


def test_stack_channels_takes_each_channel_from_its_model_and_head() -> None:
    atoms, amino = np.random.default_rng(0).random((2, 3, 21, 2, 2, 2), dtype=np.float32)
    channels = build_channels([ModelSpec("atoms", 2, {"atom": ATOM}), ModelSpec("amino", 2, {"amino_acid": AMINO})])
    boxes = np.ones((3, 1, 2, 2, 2), np.float32)
    stacked = stack_channels({0: {"atom": atoms[:, :4]}, 1: {"amino_acid": amino}}, channels, boxes)
    assert stacked.shape == (3, 21, 2, 2, 2)
    np.testing.assert_array_equal(stacked[:, 0], atoms[:, 1])  # CA is class 1 of the atom head
    np.testing.assert_array_equal(stacked[:, 1:], amino[:, 1:])


def test_no_ca_score_where_the_input_has_no_density() -> None:
    """The Cα channel is 0 where the input box is 0 (masked away or negative, clipped); the
    amino-acid channels and other front ends' channels are left as predicted."""
    scores, amino = np.random.default_rng(1).random((2, 2, 21, 4, 4, 4), dtype=np.float32) + 0.5
    boxes = np.ones((2, 1, 4, 4, 4), np.float32)
    boxes[0, 0, :2] = 0.0  # half of the first box masked away
    channels = build_channels([ModelSpec("builder", 4, {"ca": HeadSpec("ca", 1, "ca_heatmap"), "amino_acid": AMINO})])
    stacked = stack_channels({0: {"ca": scores[:, :1], "amino_acid": amino}}, channels, boxes)
    assert (stacked[0, 0, :2] == 0).all() and (stacked[0, 0, 2:] == scores[0, 0, 2:]).all()
    np.testing.assert_array_equal(stacked[1, 0], scores[1, 0])
    np.testing.assert_array_equal(stacked[:, 1:], amino[:, 1:])
    every = output_channels([ModelSpec("builder", 4, {"ca": HeadSpec("ca", 1, "ca_heatmap")})])
    np.testing.assert_array_equal(stack_channels({0: {"ca": scores[:, :1]}}, every, boxes)[:, 0], scores[:, 0])


def test_recipe_percentile_and_tiling_by_model() -> None:
    assert Recipe.for_models([CRYOTEN], InferConfig()).prepare.percentile == 99.999
    assert Recipe.for_models([C2S2], InferConfig()).prepare.percentile == 95.0
    assert Recipe.for_models([C2S2], InferConfig(percentile=90.0)).prepare.percentile == 90.0
    assert Recipe.for_models([C2S2], InferConfig()).tiling.name == "c2s"
    assert Recipe.for_models([CRYOTEN], InferConfig()).tiling.name == "cryoten-eval"
    with pytest.raises(ConfigError, match="different boxes") as error:
        Recipe.for_models([C2S2, CRYOTEN], InferConfig())
    assert error.value.source == "models"
    with pytest.raises(ConfigError, match="the model takes 48") as error:
        Recipe.for_models([CRYOTEN], InferConfig(tiling="c2s"))
    assert error.value.source == "infer.tiling"


def test_no_candidate_names_the_highest_probability_and_the_config_key() -> None:
    build = BuildConfig.model_validate({"candidates": {"threshold": 0.5}})
    sink = candidate_sink(build)
    values = np.zeros((21, 4, 4, 4), np.float32)
    values[0, 1, 2, 3] = 0.375
    sink(0, values)
    with pytest.raises(StatesFormatError, match=r"highest: 0\.375.*build\.candidates\.threshold"):
        clustered_states(sink, GridFrame((4, 4, 4), (1.0, 1.0, 1.0)), build, source="EMD-1")


def test_candidates_become_states_in_angstrom() -> None:
    build = BuildConfig.model_validate({"candidates": {"threshold": 0.5, "cluster_radius": 2.0}})
    sink = candidate_sink(build)
    values = np.zeros((21, 4, 4, 4), np.float32)
    values[0, 1, 2, 3] = 0.9  # one candidate at (z, y, x) = (1, 2, 3)
    values[1 + 4, 1, 2, 3] = 0.6  # and its amino acid (class 5 of 1..20), renormalised to 1
    sink(0, values)
    states, n = clustered_states(sink, GridFrame((4, 4, 4), (2.0, 2.0, 2.0), (10.0, 0.0, 0.0)), build)
    assert n == 1 and len(states) == 1
    np.testing.assert_allclose(states.xyz[0], [16.0, 4.0, 2.0])
    assert states.aa_probs[0, 4] == pytest.approx(1.0) and states.ca_prob[0] == pytest.approx(0.9)


def test_a_heatmap_peak_above_one_becomes_a_state_of_probability_one() -> None:
    """A regressed Cα heatmap may overshoot 1 at a peak: the state's score is capped, not refused."""
    build = BuildConfig.model_validate({"candidates": {"threshold": 0.4, "cluster_radius": 2.0}})
    sink = candidate_sink(build)
    values = np.zeros((21, 4, 4, 4), np.float32)
    values[0, 1, 1, 1], values[0, 1, 1, 2] = 1.25, 0.7  # a peak and its neighbour, one cluster
    sink(0, values)
    states, n = clustered_states(sink, GridFrame((4, 4, 4), (1.0, 1.0, 1.0)), build)
    # a cluster is the mean of its members: the capped peak (1.0) and its neighbour (0.7)
    assert n == 2 and len(states) == 1 and states.ca_prob[0] == pytest.approx(0.85)
    np.testing.assert_allclose(states.xyz[0], [1.5, 1.0, 1.0])
