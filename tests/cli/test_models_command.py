"""`cryoray models`: every registered network, under its family, with heads, parameters and commands."""

from __future__ import annotations

import argparse
import json

import pytest

from cryoray.cli import models
from cryoray.cli.main import COMMANDS
from cryoray.models import MODEL_NAMES, families
from cryoray.models.families import FAMILIES, catalogue


def run(*argv: str) -> None:
    """``cryoray models`` in-process, as the CLI builds it."""
    parser = argparse.ArgumentParser()
    models.add_args(parser)
    models.main(parser.parse_args(list(argv)))


@pytest.fixture(scope="module")
def listed() -> list[dict]:
    return catalogue()


def test_json_lists_every_registered_network_once(capsys) -> None:
    run("--json")
    rows = json.loads(capsys.readouterr().out)
    networks = [n["network"] for family in rows for n in family["networks"]]
    assert sorted(networks) == sorted(MODEL_NAMES)
    by_name = {n["network"]: (family, n) for family in rows for n in family["networks"]}
    cryoten_family, cryoten = by_name["cryoten"]
    assert cryoten["parameters"] == 29_505_881 and cryoten["heads"] == {"output": 1}  # the published network
    assert cryoten_family["seed"].startswith("CryoTEN")
    assert by_name["cryo2struct"][1]["parameters"] == 92_281_604
    assert by_name["segformer3d"][1]["heads"] == {"atom": 4, "amino_acid": 21}
    family, samu = by_name["cryosamu"]
    assert family["family"] == "cryosamu" and samu["parameters"] == 9_747_730
    assert {"ingest", "train", "enhance"} <= set(samu["commands"])


def test_import_weights_is_listed_only_for_the_networks_it_loads(listed) -> None:
    importable = {n["network"] for f in listed for n in f["networks"] if "import-weights" in n["commands"]}
    assert importable == {"cryoten", "cryo2struct"}


def test_every_listed_command_exists(listed) -> None:
    for family in listed:
        for network in family["networks"]:
            assert set(network["commands"]) <= set(COMMANDS), network


def test_no_network_is_in_two_families() -> None:
    claimed = [n for family in FAMILIES for n in family.networks]
    assert len(claimed) == len(set(claimed))


def test_a_network_without_a_family_is_listed_under_its_own_name(monkeypatch) -> None:
    monkeypatch.setattr(families, "MODEL_NAMES", (*MODEL_NAMES, "newnet"))
    rows = {row["family"]: row for row in catalogue()}
    assert rows["newnet"]["seed"] == "not stated"
    assert rows["newnet"]["networks"] == [
        {"network": "newnet", "heads": None, "parameters": None, "commands": ["train", "tune"]}
    ]


def test_text_table_has_a_row_per_network(capsys) -> None:
    run()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["family", "network", "seed"]
    assert len(lines) == 1 + len(MODEL_NAMES)
    samu = next(line for line in lines if line.split()[1] == "cryosamu")
    assert "9.75 M" in samu and "output(1)" in samu and "CryoSAMU" in samu
