"""Every file in tests/bad_inputs gets its typed error, and exit code 2 with one line in the CLI.

A case's optional ``match`` must appear in the message, so a file refused for the wrong
reason (e.g. "truncated" where a size limit should have spoken first) fails.

The CLI runs in a child process with its address space capped (1.5 GiB), so a header that tried
to allocate terabytes, or a reader that loaded without bound, would crash it instead of passing.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from cryoray import errors
from cryoray.io import read_map
from cryoray.io.models import read_model
from cryoray.io.sequences import read_fasta
from cryoray.labels.simulate import frame_around, simulate_map
from cryoray.metrics import fit_check
from cryoray.modelbuild import errors as build_errors
from cryoray.modelbuild import read_chains, read_states, thread_chains
from cryoray.preprocessing import PrepareConfig, prepare_map
from tests.support.data import BAD_INPUTS, REAL_MAPS, real

CASES = json.loads((BAD_INPUTS / "manifest.json").read_text())
FIT_MAP = REAL_MAPS["8249-negstart"]
FASTA = "EMD-3488_5ME2_haemoglobin/5me2_seqres.fasta"
MEMORY_CAP = 3 << 29  # 1.5 GiB


def _error_class(name: str) -> type[errors.InputError]:
    return getattr(errors, name, None) or getattr(build_errors, name)


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 20
    assert all((BAD_INPUTS / case["file"]).is_file() for case in CASES)


def _library_call(command: str, path: Path) -> None:
    if command == "map":
        read_map(path)
    elif command == "model":
        read_model(path)
    elif command == "sequence":
        read_fasta(path)
    elif command == "fit":
        fit_check(read_map(real(FIT_MAP)), read_model(path))
    elif command == "prepare":
        prepare_map(read_map(path), PrepareConfig(), source=path)
    elif command == "simulate":
        atoms = read_model(path).atoms()
        simulate_map(atoms, frame_around(atoms, source=path), 3.0)
    elif command == "align":
        thread_chains(read_states(path), read_chains(real(FASTA)), source=path)
    else:
        raise AssertionError(f"unknown command {command} in manifest")


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_library_raises_typed_error(case: dict) -> None:
    path = BAD_INPUTS / case["file"]
    expected = _error_class(case["error"])
    with pytest.raises(expected) as info:
        _library_call(case["command"], path)
    assert type(info.value) is expected
    assert "\n" not in str(info.value)
    assert case.get("match", "") in str(info.value)


def _cli_args(command: str, path: Path, tmp_path: Path) -> list[str]:
    if command in ("map", "model", "sequence"):
        return ["info", str(path)]
    if command == "fit":
        return ["fit", str(real(FIT_MAP)), str(path)]
    if command == "simulate":
        return ["simulate", str(path), "--resolution", "3", "-o", str(tmp_path / "out.mrc")]
    if command == "align":
        return ["align", str(path), str(real(FASTA)), "-o", str(tmp_path / "out.mrc")]
    return ["prepare", str(path), "-o", str(tmp_path / "out.mrc")]


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_cli_exits_2_with_one_line(case: dict, tmp_path: Path) -> None:
    path = BAD_INPUTS / case["file"]
    result = subprocess.run(
        [sys.executable, "-m", "cryoray.cli.main", *_cli_args(case["command"], path, tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_cap_memory,
    )
    lines = [line for line in result.stderr.splitlines() if " INFO " not in line]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cryoray ") and ": error: " in lines[0]
    assert "Traceback" not in result.stderr
    assert case["file"] in lines[0]  # the message names the offending file
    assert case.get("match", "") in lines[0]
    assert not (tmp_path / "out.mrc").exists()
