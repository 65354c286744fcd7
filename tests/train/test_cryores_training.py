"""CryoRes's three heads through training's own step and validation (no Ray), with the example config's losses."""

from __future__ import annotations

import pytest
import torch

from cryoray.config.loading import load_config_with_sets
from cryoray.losses import CryoResLoss, build_loss
from cryoray.models import build_model
from cryoray.train import TrainConfig, example_config
from cryoray.train.evaluate import head_inputs, head_target, validate
from tests.support.models import TINY


def _batch(seed: int = 0) -> dict[str, torch.Tensor]:
    """Two 16³ sub-grids as the data loader gives them (labels as stored, classes as int64)."""
    g = torch.Generator().manual_seed(seed)
    density = torch.rand(2, 16, 16, 16, generator=g)
    mask = (density > 0.6).long()
    local = 3.0 + 4.0 * torch.rand(2, 16, 16, 16, generator=g)
    global_ = torch.tensor([3.5, 5.0])[:, None, None, None].expand(2, 16, 16, 16)
    return {
        "input": density,
        "global_resolution": global_.clone(),
        "relative_resolution": (local - global_) * mask,
        "molecule_mask": mask,
    }


@pytest.fixture(scope="module")
def config() -> TrainConfig:
    return load_config_with_sets(TrainConfig, example_config("cryores"), [])


def test_training_steps_lower_the_example_loss(config: TrainConfig) -> None:
    torch.manual_seed(0)
    model = build_model(TINY["cryores"])
    labels = {head: target.label for head, target in config.targets.items()}
    losses = {head: build_loss(target.loss) for head, target in config.targets.items()}
    assert set(labels) == set(model.heads)
    batch = _batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)  # not the paper's SGD 1e-7: a few steps must move

    def step() -> float:
        outputs = model(head_inputs(batch))
        loss = sum(losses[h](outputs[h].float(), head_target(batch, labels[h])).total for h in labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    first = step()
    for _ in range(4):
        last = step()
    assert last < first


def test_validation_reports_every_head_and_the_cryores_total(config: TrainConfig) -> None:
    torch.manual_seed(0)
    model = build_model(TINY["cryores"])
    labels = {head: target.label for head, target in config.targets.items()}
    losses = {head: build_loss(target.loss) for head, target in config.targets.items()}
    batch = _batch(1)
    metrics, sample = validate(model, [batch], labels, losses, torch.autocast("cpu", enabled=False))
    for key in ("val/global/pcc", "val/relative/pcc", "val/mask/macro_f1", "val/mask/f1/molecule"):
        assert key in metrics
    model.eval()
    with torch.no_grad():
        outputs = model(head_inputs(batch))
    expected = CryoResLoss(relative_inside_mask=False)(
        outputs,
        {
            "global": batch["global_resolution"][:, 0, 0, 0],
            "relative": head_target(batch, "relative_resolution"),
            "mask": batch["molecule_mask"],
        },
    )
    assert metrics["val/loss"] == pytest.approx(expected.total.item(), rel=1e-5)
    assert sample is not None and sample["prediction"].shape == (16, 16, 16)
