"""Every test folder counts: pytest's default collection reaches each folder that holds test files.

pytest (and ruff) silently skip folders named like ``build`` or ``dist`` (``norecursedirs``); a test
folder so named once kept 91 tests out of CI. This guard collects the suite as CI does and fails
for any folder under ``tests/`` whose ``test_*.py`` files contribute nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _folders_with_tests() -> set[str]:
    return {str(p.parent.relative_to(REPO)) for p in (REPO / "tests").rglob("test_*.py") if ".venv" not in p.parts}


def test_default_collection_reaches_every_test_folder() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    collected = {str(Path(line.split("::", 1)[0]).parent) for line in run.stdout.splitlines() if "::" in line}
    folders = _folders_with_tests()
    assert len(folders) > 10, folders  # the walk itself works
    missing = sorted(folders - collected)
    assert not missing, f"test folders the default collection skips (rename them or fix norecursedirs): {missing}"
