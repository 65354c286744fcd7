"""The shipped example configs are valid, and those for c2s stores plan against the sample store."""

from __future__ import annotations

import pytest

from cryoray.config.loading import load_config_with_sets
from cryoray.errors import ConfigError
from cryoray.train import EXAMPLES, TrainConfig, example_config, plan_training


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_plans_or_names_its_store_need(name, sample_store) -> None:
    path = example_config(name)
    config = load_config_with_sets(TrainConfig, path, [f"data.store={sample_store}"])
    if name == "cryoten_unetrpp":
        # 48³ crops need the 64³ cryoten-train tiling; the c2s sample store has 32³ boxes.
        with pytest.raises(ConfigError, match="larger than the store's boxes"):
            plan_training(config, source=path)
        return
    if name == "cryosamu":
        # the sample store has 32³ boxes and no embeddings (ingest --embedding structure makes them)
        config = load_config_with_sets(
            TrainConfig, path, [f"data.store={sample_store}", "data.augment.crop=null", "model.img_size=32"]
        )
        with pytest.raises(ConfigError, match="has no embeddings"):
            plan_training(config, source=path)
        return
    if name == "cryores":
        # the sample store has 32³ boxes and the default labels, not CryoRes's (they need half maps)
        config = load_config_with_sets(TrainConfig, path, [f"data.store={sample_store}", "model.img_size=32"])
        with pytest.raises(ConfigError, match="has no 'global_resolution' labels"):
            plan_training(config, source=path)
        return
    plan = plan_training(config, source=path)
    assert set(plan.class_counts) == set(config.targets)
    assert plan.steps_per_epoch >= 1


def test_unknown_example_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="choose one of"):
        example_config("nope")
