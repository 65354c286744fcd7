"""The CLI answers fast and talks in one line: heavy libraries load only for the commands that use them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cryoray.cli import fit
from cryoray.cli.main import COMMANDS, build_parser, main
from tests.support.data import REAL_MAPS, real

HEAVY = ("ray", "torch", "numba", "monai", "mlflow", "zarr", "matplotlib")

PROBE = """
import json, sys
from cryoray.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help exits
    code = exc.code
print(json.dumps({"code": code, "heavy": sorted(m for m in %r if m in sys.modules)}), file=sys.stderr)
"""


def _imports_of(*argv: str) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *argv], capture_output=True, text=True, timeout=120, check=False
    )
    return json.loads(run.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["info", "--help"], ["info", str(real(REAL_MAPS["8249-negstart"]))]],
    ids=["help", "info-help", "info-map"],
)
def test_help_and_info_import_no_heavy_library(argv: list[str]) -> None:
    probe = _imports_of(*argv)
    assert probe["code"] == 0
    assert probe["heavy"] == [], f"`cryoray {' '.join(argv)}` imported {probe['heavy']}"


def test_top_level_help_lists_every_command_with_its_summary(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    loaded = build_parser(all_commands=True)
    choices = next(a for a in loaded._actions if a.dest == "command").choices
    for name in COMMANDS:
        summary = choices[name].description
        assert name in out and summary.split()[0] in out


@pytest.mark.parametrize("error", [MemoryError("cannot allocate 4.00 TiB"), ValueError("array is too big;\nreally")])
def test_escaped_memory_and_value_errors_end_as_one_line_exit_2(error, monkeypatch, capsys) -> None:
    def fail(args: object) -> None:
        raise error

    monkeypatch.setattr(fit, "main", fail)  # a command that lets an unchecked error escape
    assert main(["fit", "map.mrc", "model.pdb"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cryoray fit: error: ") and "\n" not in err and "Traceback" not in err
    assert ("out of memory" in err) == isinstance(error, MemoryError)
