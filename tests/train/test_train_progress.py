"""`cryoray train` shows steps, epoch, loss, validation, rate and ETA on stderr while it runs."""

from __future__ import annotations

import json
import re

import yaml

from cryoray.cli.main import main
from tests.support.training import small_config


def test_cli_train_prints_progress_to_stderr(sample_store, tmp_path, ray_local, capsys) -> None:
    path = tmp_path / "t.yaml"
    config = small_config(sample_store, tmp_path / "runs", checkpoints={"metric": "val/output/f1/CA", "mode": "max"})
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["metrics"]["step"] == 8  # stdout stays clean JSON
    lines = [line for line in err.splitlines() if line.startswith("train: ")]
    assert len(lines) >= 2, err  # the first report, then the final line (stderr is no terminal here)
    final = lines[-1]
    assert final.startswith("train: 8/8 steps (100%), ")
    assert re.search(r", [0-9.]+ (steps/s|s each), took [0-9:]+, ", final), final  # rate and time taken
    for figure in ("epoch 2/2", "loss ", "val/loss ", "val/output/f1/CA "):  # last step's loss, last validation
        assert figure in final, final
